"""Looking at runs: the HTML report, architecture drawings (the TensorBoard
events are written by the experiment, runs/tensorboard.py)."""
