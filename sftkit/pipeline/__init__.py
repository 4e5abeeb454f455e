"""A whole run from one recipe file: recipe.py reads it, plan.py wires the stages, run.py submits
them through slurm/submit.sh (or runs them with --local), status.py says where each stands."""
