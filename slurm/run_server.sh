#!/bin/bash
# A model server job: vLLM's OpenAI-compatible server for one model, for client tasks that find it
# through a rendezvous file (hpc/model_server.py; docs/server.md). slurm/submit.sh STAGE --server
# MODEL submits it for you, with the clients and the merge, and cancels it when the merge ends.
#   sbatch slurm/run_server.sh --model deepseek-ai/DeepSeek-R1 --server-file results/.r1.server.json
#   sbatch --nodes=2 --gres=gpu:8 slurm/run_server.sh --model Qwen/Qwen3-235B-A22B --tp 8 --pp 2 \
#       --server-file results/.qwen.server.json -- --max-model-len 32768
# Several nodes: a Ray head here, srun'd Ray workers on the others, `vllm serve` on the Ray backend.
# Once /health answers it writes {url, model, job_id, started_at} to --server-file; if the server dies
# it requeues itself (--max-restarts); the file is removed when it stops. --dry-run prints the commands.
#SBATCH --job-name=sftkit-server
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --mem=64G
#SBATCH --time=24:00:00
#SBATCH --output=logs/%x-%j.out
#SBATCH --open-mode=append
#SBATCH --requeue
#SBATCH --signal=B:USR1@120
ROOT=${SFTKIT_ROOT:-$(scontrol show job "${SLURM_JOB_ID:-none}" 2>/dev/null | sed -n 's|^ *Command=\([^ ]*\)/slurm/[^/ ]*.*$|\1|p')}
ROOT=${ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck source=slurm/lib.sh
source "$ROOT/slurm/lib.sh"
sftkit_activate
sftkit_banner
exec "$PYTHON" "$ROOT/hpc/model_server.py" "$@"
