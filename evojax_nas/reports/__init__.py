"""Looking at runs: the HTML report, architecture drawings, TensorBoard."""
