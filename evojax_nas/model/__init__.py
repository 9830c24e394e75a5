"""The model an experiment hands back: exported weights and genome
(`exported`: `Model`, `load_model`), the portable `jax.export` program
(`portable`) and the ensemble's majority vote (`vote`). Above `train/`
(checkpoints), below the experiment that writes them."""
