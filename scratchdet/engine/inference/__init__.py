"""After training: batched prediction (tools/predict.py) and export (TorchScript, ONNX)."""
