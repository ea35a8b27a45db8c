#!/bin/bash
# A sweep on a Slurm cluster: one array task per shard, the same command in each.
# Submit from a checkout that has run `npm ci`:   sbatch docs/slurm-sweep.sh
# Afterwards, merge the shards' files:           npm run sweep -- --summarise sweeps/lr
#SBATCH --job-name=grpo-sweep
#SBATCH --array=1-8
#SBATCH --cpus-per-task=2
#SBATCH --time=01:00:00
#SBATCH --output=sweeps/slurm-%A_%a.out
set -euo pipefail
npm run sweep -- --preset r1-recipe --grid 'r1.lr=0.001,0.002,0.003,0.005;r1.temperature=1,1.3' --seeds 1-5 \
  --jobs 1 --shard "${SLURM_ARRAY_TASK_ID}/${SLURM_ARRAY_TASK_COUNT}" --out sweeps/lr
