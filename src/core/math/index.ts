/**
 * The RL math in one import. Float64 reference functions over flat [n * T] arrays:
 * masked.ts (averaging), kl.ts (k3), advantages.ts (GRPO, RLOO, GAE, whitening), losses.ts
 * (clipped GRPO / PPO objectives); and their tfjs twins for training in tf-losses.ts.
 */
export * from './masked';
export * from './kl';
export * from './advantages';
export * from './losses';
export * from './tf-losses';
