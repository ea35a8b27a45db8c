/**
 * The task registry: `createTask(spec)` builds (once per configuration) the task a config names.
 * Tasks are pure and immutable once built, so one instance per configuration is shared; this
 * keeps the held-out sets (and countdown's exhaustive search) from being rebuilt per run.
 */
import { createAddition } from './addition';
import { createCountdown } from './countdown';
import { createSort } from './sort';
import { createSum } from './sum';
import type { Task } from './task';

export type TaskId = 'add' | 'sort' | 'countdown' | 'sum';

export const TASKS: readonly { id: TaskId; title: string }[] = [
  { id: 'add', title: 'Addition' },
  { id: 'sort', title: 'Sorting digits' },
  { id: 'countdown', title: 'Countdown (reach a target with + - * )' },
  { id: 'sum', title: 'Sum of several numbers (answer directly, or show the work)' },
];

export interface TaskSpec {
  task: TaskId;
  /** Addition: digits per operand, 1..3 (default 2). */
  digits?: number;
  /** Sorting: digits per list, 2..6 (default 4). */
  sortLength?: number;
  /** Countdown: how many numbers, 3 or 4 (default 3). */
  countdownNumbers?: number;
  /** Sum: how many numbers, 3..5 (default 4). */
  terms?: number;
  /** Sum: digits per number, 1 or 2 (default 1). */
  termDigits?: number;
}

const built = new Map<string, Task>();

/** The task of `spec` (only the fields relevant to `spec.task` are read). Throws RangeError on a bad size. */
export function createTask(spec: TaskSpec): Task {
  let key: string;
  let make: () => Task;
  switch (spec.task) {
    case 'add': {
      const digits = spec.digits ?? 2;
      key = `add/${digits}`;
      make = () => createAddition({ digits: digits as 1 | 2 | 3 });
      break;
    }
    case 'sort': {
      const length = spec.sortLength ?? 4;
      key = `sort/${length}`;
      make = () => createSort({ length });
      break;
    }
    case 'countdown': {
      const numbers = spec.countdownNumbers ?? 3;
      key = `countdown/${numbers}`;
      make = () => createCountdown({ numbers: numbers as 3 | 4 });
      break;
    }
    case 'sum': {
      const terms = spec.terms ?? 4;
      const digits = spec.termDigits ?? 1;
      key = `sum/${terms}x${digits}`;
      make = () => createSum({ terms, digits });
      break;
    }
    default:
      throw new RangeError(`unknown task: ${String((spec as { task: unknown }).task)}`);
  }
  let task = built.get(key);
  if (!task) {
    task = make();
    built.set(key, task);
  }
  return task;
}

/** The task an experiment's settings describe (pure: the page's main thread uses it too). */
export function taskOf(exp: { task: TaskId; digits: number; sortLen: number; cdNums: number; terms: number; termDigits: number }): Task {
  return createTask({ task: exp.task, digits: exp.digits, sortLength: exp.sortLen, countdownNumbers: exp.cdNums, terms: exp.terms, termDigits: exp.termDigits });
}
