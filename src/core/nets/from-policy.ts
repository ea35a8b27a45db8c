/** Between nets and policy files (src/core/policy-file.ts): read a net's weights out, build a net from a file. */
import * as tf from '@tensorflow/tfjs';
import { type Policy, type PolicyOrigin, POLICY_FORMAT, POLICY_VERSION, policyTaskOf, weightLayout } from '../policy-file';
import { Rng } from '../rng';
import type { Task } from '../tasks/task';
import { type SeqNet, createNet } from './net';
import { readFloats } from './layers';

/** A net's weights (one read back, batched) as a Policy. */
export async function policyOf(net: SeqNet, task: Task, origin: PolicyOrigin): Promise<Policy> {
  const layout = weightLayout(net.spec);
  const flat = tf.tidy(() => tf.concat(net.vars.map((v) => tf.reshape(v, [-1]))));
  const all = readFloats(flat);
  flat.dispose();
  let off = 0;
  const weights = net.vars.map((v, i) => {
    const data = all.slice(off, off + v.size);
    off += v.size;
    return { name: layout[i].name, shape: [...v.shape], data };
  });
  return { format: POLICY_FORMAT, version: POLICY_VERSION, task: policyTaskOf(task), net: { ...net.spec }, params: net.paramCount, ...origin, weights };
}

/** A fresh net with the policy's architecture and weights (the caller owns it). */
export function netFromPolicy(p: Policy): SeqNet {
  const net = createNet(p.net, new Rng(0));
  try {
    net.vars.forEach((v, i) => {
      const w = p.weights[i];
      if (!w || w.data.length !== v.size) throw new Error(`the policy's weight ${i} (${w?.name ?? 'missing'}) does not fit its architecture`);
      const t = tf.tensor(w.data, v.shape);
      v.assign(t);
      t.dispose();
    });
  } catch (e) {
    net.dispose();
    throw e;
  }
  return net;
}
