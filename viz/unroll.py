"""Finding the unrolled recurrent structure in a recorded graph, from scopes and names only.

A *row* is one recurrence: ``(net, layer, direction)`` parsed from scopes such as
``("LSTM", "layer1", "reverse", "t=3")`` (see :func:`viz.graph.step_key`); a *step* is a row at
one time ``t``. Every other tensor is classified relative to the steps:

* ``time[i]``: the time step it belongs to, if any: the latest step it is computed from
  (outputs, losses), else the one step that consumes it (inputs ``x_t``);
* ``shared``: parameters (named ones, or leaves that require grad and feed steps at several
  times) and ops computed from parameters only (e.g. a transposed weight); ``owner[i]`` is the
  row whose steps alone consume it;
* ``init``: tensors entering the first step of a row where, in the following steps, the
  previous step's state enters (initial states ``h0`` / ``c0``);
* ``below`` (an input of some step) or ``above`` (computed from some step);
* ``private[i] = (row, t)``: constants (leaves without grad whose elements are all equal, such
  as the ``1`` in ``1 - z``) read by one step only; they are drawn inside that step.
"""

import numpy as np

from .graph import DIRECTIONS, step_key

_DIR_ORDER = {"": 0, DIRECTIONS[0]: 1, DIRECTIONS[1]: 2}


class Unrolled:
    """The rows, steps and roles of the tensors of a :class:`viz.graph.GraphView`."""

    def __init__(self, view, who="draw_bptt"):
        self.view = view
        n = len(view.tensors)
        self.step = [None] * n
        row_times = {}
        keys = {}   # many ops share one scope tuple
        for i, t in enumerate(view.tensors):
            if t.grad_fn is None:
                continue
            scope = view.scope(i)
            key = keys.get(scope, 0)
            if key == 0:
                key = keys[scope] = step_key(scope)
            if key is not None:
                self.step[i] = key
                row_times.setdefault(key[0], set()).add(key[1])
        if not row_times:
            raise ValueError(
                f"{who}: found no unrolled recurrent steps in this graph: expected ops recorded "
                "under scopes like ('LSTM', 'layer0', 't=3'), as the unrolled layers "
                "(models.LSTM(..., fused=False)) record them. Use viz.draw_graph for other "
                "graphs.")
        self.row_times = {r: sorted(row_times[r], reverse=r[2] == DIRECTIONS[1])
                          for r in row_times}
        self.step_ops = {}
        for i, key in enumerate(self.step):
            if key is not None:
                self.step_ops.setdefault(key, []).append(i)
        # Nets in the order they start: by when their first step is complete (an encoder's
        # before the decoder that reads its final state).
        start = {}
        for row, times in self.row_times.items():
            done = max(self.step_ops[(row, times[0])])
            start[row[0]] = min(start.get(row[0], done), done)
        self.rows = sorted(row_times, key=lambda r: (start[r[0]], r[0], r[1],
                                                     _DIR_ORDER[r[2]]))
        self.row_index = {r: k for k, r in enumerate(self.rows)}
        self.times = sorted(set().union(*row_times.values()))
        self._times()
        self._shared()
        self._sides()
        self._initial_states()
        self._constants()
        self.states = [i for i, key in enumerate(self.step)
                       if key is not None and view.tensors[i].name in ("h", "c")]

    def time_of(self, i):
        key = self.step[i]
        return key[1] if key is not None else self.time[i]

    def _times(self):
        view, n = self.view, len(self.view.tensors)
        self.time = [None] * n
        for i in range(n):
            if self.step[i] is not None:
                continue
            ts = [self.time_of(p) for p in view.parents(i)]
            ts = [t for t in ts if t is not None]
            if ts:
                self.time[i] = max(ts)
        for i in reversed(range(n)):
            if self.step[i] is not None or self.time[i] is not None:
                continue
            ts = {self.time_of(c) for c in view.consumers[i]}
            if len(ts) == 1 and None not in ts:
                self.time[i] = ts.pop()

    def _shared(self):
        view, n = self.view, len(self.view.tensors)
        self.shared = [False] * n
        for i, t in enumerate(view.tensors):
            if t.grad_fn is None:
                if id(t) in view.param_names:
                    self.shared[i] = True
                elif t.requires_grad:
                    ts = {self.step[c][1] for c in view.consumers[i] if self.step[c]}
                    self.shared[i] = len(ts) > 1
            elif self.step[i] is None:
                ps = view.parents(i)
                self.shared[i] = bool(ps) and all(self.shared[p] for p in ps)
        self.owner = [None] * n
        for i in reversed(range(n)):
            if not self.shared[i]:
                continue
            rows = set()
            for c in view.consumers[i]:
                if self.step[c] is not None:
                    rows.add(self.step[c][0])
                elif self.shared[c] and self.owner[c] is not None:
                    rows.add(self.owner[c])
                else:
                    rows.add(None)
            if len(rows) == 1 and None not in rows:
                self.owner[i] = rows.pop()

    def _sides(self):
        view, n = self.view, len(self.view.tensors)
        self.above = [False] * n
        for i in range(n):
            if self.step[i] is None:
                self.above[i] = any(self.step[p] is not None or self.above[p]
                                    for p in view.parents(i))
        self.below = [False] * n
        for i in reversed(range(n)):
            if self.step[i] is None:
                self.below[i] = any(self.step[c] is not None or self.below[c]
                                    for c in view.consumers[i])

    def _initial_states(self):
        """``init[i] = (row, names)`` for tensors entering a row's first step where the
        previous step's state enters the following steps (matched by op position and argument
        index, when the first two steps record the same ops)."""
        view = self.view
        self.init = {}
        for row in self.rows:
            times = self.row_times[row]
            if len(times) < 2:
                continue
            first = self.step_ops[(row, times[0])]
            second = self.step_ops[(row, times[1])]
            if [view.tensors[i].op for i in first] != [view.tensors[i].op for i in second]:
                continue
            for pos, i in enumerate(second):
                for arg, p in enumerate(view.parents(i)):
                    if self.step[p] != (row, times[0]):
                        continue
                    q = view.parents(first[pos])[arg]
                    if self.step[q] is not None or self.shared[q]:
                        continue
                    name = view.tensors[p].name or "state"
                    _, names = self.init.setdefault(q, (row, []))
                    if name not in names:
                        names.append(name)

    def _constants(self):
        view = self.view
        self.private = {}
        for i, t in enumerate(view.tensors):
            if t.grad_fn is not None or t.requires_grad or i in self.init:
                continue
            keys = {self.step[c] for c in view.consumers[i]}
            if len(keys) != 1 or None in keys:
                continue
            data = t.numpy()
            if data.size <= 1 or bool(np.all(data == data.flat[0])):
                self.private[i] = keys.pop()
