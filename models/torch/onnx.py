"""``torch.onnx``: importable; ``export`` raises (minigrad has no ONNX exporter)."""


def export(model, args, f=None, *unused, **options):
    raise NotImplementedError("onnx.export: minigrad has no ONNX exporter; save the "
                              "state_dict() and export from PyTorch (the weights load by name)")
