/**
 * The checkpoint group (issue 12): for the default experiment (first-steps) and the R1 recipe's
 * run (in its GRPO stage, where a reference policy is kept too), what one checkpoint weighs and
 * costs: its size in bytes, the time to save the state (weights, moments, streams read out) and to
 * encode it, to decode it and restore it into a new session; and, since a run saves once per eval
 * point, that cost per training step as a share of a step's time.
 */
import { decodeState, encodeState } from '../../src/core/checkpoint';
import { presetById, presetConfig } from '../../src/core/presets';
import { Session } from '../../src/core/session';
import { type Figures, fmtNum, log, round, type Row, table, timeIt } from './common';

export async function checkpointGroup(): Promise<{ figures: Figures; text: string }> {
  const f: Figures = {};
  const rows: Row[] = [];
  for (const [id, at] of [['first-steps', 50], ['r1-recipe', 320]] as const) {
    const config = presetConfig(presetById(id)!);
    log(`checkpoint: ${id}, r1 trained to step ${at}`);
    const s = new Session(config, 0, 0);
    while (s.step < at) await s.trainStep();
    const stepMs = await timeIt(10, () => s.trainStep());
    const saveMs = await timeIt(10, () => s.saveState());
    const state = s.saveState();
    const encodeMs = await timeIt(10, () => encodeState(state));
    const bytes = encodeState(state);
    const restoreMs = await timeIt(5, () => {
      const r = new Session(config, 0, 0);
      r.restoreState(decodeState(bytes));
      r.dispose();
    });
    s.dispose();
    // A run saves at each eval point: the cost spread over the updates between two.
    const perStep = (saveMs + encodeMs) / config.evalEvery;
    const p = `checkpoint.${id}`;
    Object.assign(f, {
      [`${p}.bytes`]: bytes.length,
      [`${p}.save_ms`]: round(saveMs, 2),
      [`${p}.encode_ms`]: round(encodeMs, 2),
      [`${p}.restore_ms`]: round(restoreMs, 1),
      [`${p}.step_ms`]: round(stepMs, 1),
      [`${p}.eval_every`]: config.evalEvery,
      [`${p}.ms_per_step`]: round(perStep, 3),
      [`${p}.share_of_step`]: round(perStep / stepMs, 4),
    });
    rows.push(
      { figure: `${p}.bytes`, value: `${fmtNum(bytes.length / 1024, 0)} KB` },
      { figure: `${p}.save_ms + encode_ms`, value: `${fmtNum(saveMs, 2)} + ${fmtNum(encodeMs, 2)}` },
      { figure: `${p}.restore_ms`, value: fmtNum(restoreMs, 1) },
      { figure: `${p}.ms_per_step (every ${config.evalEvery} steps)`, value: fmtNum(perStep, 3) },
      { figure: `${p}.share_of_step (step ${fmtNum(stepMs, 1)} ms)`, value: `${fmtNum(100 * (perStep / stepMs), 2)} %`, target: '< 5 %', ok: perStep / stepMs < 0.05 },
    );
  }
  return { figures: f, text: table('checkpoints (Node, wasm backend)', rows) };
}
