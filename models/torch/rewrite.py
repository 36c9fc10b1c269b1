"""The "Coming from PyTorch" import rewrite, as a function and a command:

    python -m models.torch.rewrite program.py > program_minigrad.py

Every import of ``torch`` or one of its modules names ``models.torch`` instead, binding the
same name (``import torch`` -> ``import models.torch as torch``, ``import torch.nn as nn`` ->
``import models.torch.nn as nn``, ``from torch.nn.utils.rnn import x`` -> ``from
models.torch.nn.utils.rnn import x``, ``import torch.onnx`` -> ``import models.torch.onnx``).
Only whole import lines change; nothing else in the program does.
"""

import re
import sys

RULES = (
    (r"^(\s*)import torch(\s*(#.*)?)$", r"\1import models.torch as torch\2"),
    (r"^(\s*)import torch\.([\w.]+) as ", r"\1import models.torch.\2 as "),
    (r"^(\s*)import torch\.([\w.]+)(\s*(#.*)?)$", r"\1import models.torch.\2\3"),
    (r"^(\s*)from torch(\.[\w.]+)? import ", r"\1from models.torch\2 import "),
)


def rewrite_imports(source):
    """``source`` (a program's text) with its torch imports pointed at ``models.torch``."""
    if not isinstance(source, str):
        raise TypeError(f"rewrite_imports: expected the program's text (str), got "
                        f"{type(source).__name__}")
    for pattern, replacement in RULES:
        source = re.sub(pattern, replacement, source, flags=re.M)
    return source


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m models.torch.rewrite PROGRAM.py  (prints the rewritten "
              "program)", file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as f:
        sys.stdout.write(rewrite_imports(f.read()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
