"""``draw_bptt``: the unrolled (backpropagation-through-time) view of a recurrent net's graph.

Read from the recorded graph and its scopes only (see :mod:`viz.unroll`): one cluster per time
step, nested in a cluster per layer (and per direction), time running left to right, inputs
below and outputs above; the shared weights drawn once with an edge into every step; hidden
and cell states as distinct, labelled edge styles; optionally the gradient overlay
(:mod:`viz.overlay`) and folding of long sequences.
"""

from . import escape
from .graph import COLORS, DIRECTIONS, GraphView, base_scene, shape_text, tensor_node_attrs
from .overlay import LogScale, fmt, legend_rows, lookup_norms
from .scene import INVISIBLE
from .unroll import Unrolled

H_COLOR, C_COLOR, W_COLOR, X_COLOR = "#2b5cb8", "#e07b00", "#8c8c8c", "#444444"
DETAILS = ("cell", "op")


def draw_bptt(loss_or_output, model=None, detail="cell", grads=False, max_steps=None,
              params=None, legend=True, show_shapes=True):
    """Draw the unrolled graph of a recurrent net as a ``graphviz.Digraph``.

    Args:
        loss_or_output: the loss, or a layer's outputs (a Tensor or nested tuple of Tensors),
            computed by unrolled recurrent layers that follow the scope convention
            (``mg.scope("LSTM") / "layer0" / ["forward"|"reverse"] / "t=3"``, the new hidden
            state named ``"h"``, the LSTM cell state ``"c"``), e.g. ``models.LSTM(...,
            fused=False)``.
        model: an ``mg.nn.Module`` naming the parameters (``weight_hh_l0``, ...).
        detail: ``"cell"`` (one node per cell per step: the lecture diagram) or ``"op"``
            (every primitive, grouped in the same clusters).
        grads: ``True`` (or a :class:`viz.GradientRecorder`) to overlay the gradient norms
            captured during the real backward pass: each hidden / cell state edge's width and
            colour encode ``||dL/dh_t||`` / ``||dL/dc_t||`` of the state it carries (log scale,
            legend), and each step's cluster is labelled with them. Needs ``viz.watch(...)``
            before ``backward()`` (or ``retain_grad()`` on the states).
        max_steps: show at most this many steps (>= 2): the first and last ones, the middle
            folded into one ``... n steps ...`` node per layer and direction.
        params: further ``name -> Tensor`` names for leaves.
        legend: add a legend node explaining the edge styles (and the gradient scale).
        show_shapes: print tensor shapes in the labels.

    Raises ``ValueError`` for a tensor without a graph or a graph without unrolled steps, and
    ``RuntimeError`` when ``grads`` is requested but no gradient was captured.
    """
    if detail not in DETAILS:
        raise ValueError(f"draw_bptt: detail must be 'cell' or 'op', got {detail!r}")
    if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, int)
                                  or max_steps < 2):
        raise ValueError(f"draw_bptt: max_steps must be an int >= 2 (or None), got "
                         f"{max_steps!r}")
    if grads is not False and grads is not None and grads is not True and not hasattr(
            grads, "watches"):
        raise TypeError(f"draw_bptt: grads must be True, False or a GradientRecorder, got "
                        f"{type(grads).__name__}")
    view = GraphView(loss_or_output, model, params, "draw_bptt")
    unrolled = Unrolled(view)
    norms = lookup_norms(view, unrolled.states, grads) if grads else None
    return _Drawing(view, unrolled, detail, norms, max_steps, legend, show_shapes,
                    model).scene.to_digraph()


class _Drawing:
    """Builds the scene of one ``draw_bptt`` call."""

    def __init__(self, view, unrolled, detail, norms, max_steps, legend, show_shapes, model):
        self.view, self.un, self.cell = view, unrolled, detail == "cell"
        self.norms = norms
        self.scale = LogScale(norms.values()) if norms else None
        self.show_shapes = show_shapes
        self.scene = base_scene("LR")
        self.scene.graph_attr.update({"labelloc": "t", "fontsize": "14",
                                      "ranksep": "0.8" if self.cell else "0.4",
                                      "label": escape.raw_label(
                                          f"<B>{escape.html(self._title(model), 200)}</B>")})
        times = unrolled.times
        self.hidden_times = set()
        if max_steps is not None and len(times) > max_steps:
            first = -(-max_steps // 2)
            self.hidden_times = set(times[first:len(times) - max_steps // 2])
        self._order = None
        self._through = {}
        self._alias = self._same_inputs()
        self._columns()
        self._row_paths = {}
        self._betweens = {}
        # Declared top to bottom (Graphviz starts from the declaration order): the outputs,
        # then the layers from the last down to layer 0, then the inputs.
        self._outputs_path = self.scene.cluster(("outputs",), name="cluster_outputs", **_BAND)
        self._rows()
        self.layers = []
        for row in unrolled.rows:
            if self._row_paths[row][:1] not in self.layers:
                self.layers.append(self._row_paths[row][:1])
        self._src = self._source_layers()
        self._inputs_path = self.scene.cluster(("inputs",), name="cluster_inputs", **_BAND)
        self._others()
        self._edges()
        if legend:
            self._legend()
        self._stack_bands(legend)

    # ---- classification ----------------------------------------------------------------
    def _title(self, model):
        nets = list(dict.fromkeys("/".join(r[0]) for r in self.un.rows))
        name = type(model).__name__ if model is not None else (", ".join(n for n in nets if n)
                                                                or "recurrent net")
        layers = len({r[:2] for r in self.un.rows})
        bidir = any(r[2] for r in self.un.rows)
        n = len(self.un.times)
        text = f"{name}: {layers} layer{'s' * (layers != 1)}, {n} step{'s' * (n != 1)}"
        return text + (", bidirectional" if bidir else "") + ", unrolled (BPTT view)"

    def hidden(self, i):
        un = self.un
        if not self.hidden_times or un.shared[i] or i in un.init:
            return False
        return un.time_of(i) in self.hidden_times

    def unit(self, i):
        """The drawn node that tensor ``i`` belongs to."""
        un = self.un
        key = un.step[i] if un.step[i] is not None else un.private.get(i)
        if key is not None:
            r = un.row_index[key[0]]
            if key[1] in self.hidden_times:
                return f"f{r}"
            return f"s{r}_{key[1]}" if self.cell else f"n{i}"
        if i in self._alias:
            return self.unit(self._alias[i])
        owned = un.shared[i] and un.owner[i] is not None
        if self.cell and i not in un.init and not owned:
            if un.above[i] and un.below[i]:
                return None     # between layers: edges pass through (see _sources)
            if not un.below[i]:
                return "out"    # outputs and loss: one node
        if self.hidden(i):
            if un.below[i] and un.above[i] and self._src[i] is not None:
                return f"fold_b{self._src[i]}"
            return "fold_in" if un.below[i] and not un.above[i] else "fold_out"
        if self.cell and owned:
            return f"w{un.row_index[un.owner[i]]}"
        return f"n{i}"

    def _same_inputs(self):
        """``{i: j}`` for input leaves that view the same memory as an earlier one of the same
        time step (``x[t]`` sliced once per direction of a bidirectional layer): drawn once."""
        un, view = self.un, self.view
        first, alias = {}, {}
        for i, t in enumerate(view.tensors):
            if t.grad_fn is not None or un.time[i] is None or not un.below[i] or un.shared[i]:
                continue
            if i in un.init or i in un.private:
                continue
            a = t.numpy()
            key = (un.time[i], a.shape, a.strides, a.dtype.str,
                   a.__array_interface__["data"][0], view.name(i))
            if key in first:
                alias[i] = first[key]
            else:
                first[key] = i
        return alias

    def _sources(self, p):
        """The tensors whose drawn nodes stand for tensor ``p``: ``p`` itself, or, for a
        tensor the cell view passes through (between layers), its nearest drawn ancestors."""
        if self.unit(p) is not None:
            return [p]
        got = self._through.get(p)
        if got is None:
            got = []
            for q in self.view.parents(p):
                got += [s for s in self._sources(q) if s not in got]
            self._through[p] = got
        return got

    def kind(self, p):
        """The edge style of an edge carrying tensor ``p``: h, c, w (weights), data."""
        un = self.un
        t = self.view.tensors[p]
        if un.step[p] is not None and t.name in ("h", "c"):
            return t.name
        if p in un.init:
            names = un.init[p][1]
            return "h" if "h" in names else ("c" if "c" in names else "data")
        if un.shared[p]:
            return "w"
        return "data"

    # ---- nodes ---------------------------------------------------------------------------
    def _row_path(self, row):
        """Declare the clusters of ``row`` (layer, then direction) and return its path."""
        net, layer, direction = row
        path = [("layer", net, layer)]
        name = "/".join(net + (f"layer{layer}",))
        self.scene.cluster(tuple(path), label=escape.label((name, "b")),
                           **_cluster_style("#777777", "#f4f6fa"))
        if direction:
            path.append(("dir", net, layer, direction))
            self.scene.cluster(tuple(path), label=escape.label(direction),
                               **_cluster_style("#999999", "#eef1f7"))
        return tuple(path)

    def _source_layers(self):
        """For each tensor, the highest layer (position in ``self.layers``) it is computed
        from, or ``None``."""
        un, view = self.un, self.view
        rank = {path: k for k, path in enumerate(self.layers)}
        src = [None] * len(view.tensors)
        for i in range(len(src)):
            key = un.step[i]
            if key is not None:
                src[i] = rank[self._row_paths[key[0]][:1]]
                continue
            ks = [src[p] for p in view.parents(i) if src[p] is not None]
            src[i] = max(ks) if ks else None
        return src

    def _band_path(self, i):
        """Where an out-of-step tensor is drawn: with the outputs and losses (above all
        layers), with the inputs (below them), or, when it is computed from one layer and read
        by a later one (the concatenated states of a bidirectional layer, say), in a band just
        above the layer it comes from."""
        un, k = self.un, self._src[i]
        if un.above[i] and un.below[i] and k is not None and not self.cell:
            if k + 1 < len(self.layers):
                return self.layers[k + 1]
        if un.above[i] and un.below[i] and k is not None:
            if k not in self._betweens:
                self._betweens[k] = self.scene.cluster((("between", k),),
                                                       name=f"cluster_between{k}", **_BAND)
            return self._betweens[k]
        return self._inputs_path if un.below[i] and not un.above[i] else self._outputs_path

    def _place(self, nid, column):
        """Put node ``nid`` in the time column ``column`` ("start", a time, "fold", "end")."""
        self.col[nid] = self.colnum[column]

    def _columns(self):
        cols = ["start"]
        for t in self.un.times:
            if t not in self.hidden_times:
                cols.append(t)
            elif "fold" not in cols:
                cols.append("fold")
        cols.append("end")
        self.columns = cols
        self.colnum = {c: k for k, c in enumerate(cols)}
        self.col = {}

    def _rows(self):
        un, view, scene = self.un, self.view, self.scene
        owned = {}
        for i in range(len(view.tensors)):
            if un.shared[i] and un.owner[i] is not None:
                owned.setdefault(un.owner[i], []).append(i)
        inits = {}
        for i, (row, _names) in un.init.items():
            inits.setdefault(row, []).append(i)
        self._step_members = {}
        for i, key in enumerate(un.step):
            key = key if key is not None else un.private.get(i)
            if key is not None:
                self._step_members.setdefault(key, []).append(i)
        # Rows are declared from the top one down: in the left-to-right layout Graphviz
        # starts from the declaration order, so layer 0 (and the forward direction) end up
        # at the bottom, next to the inputs.
        for r in reversed(range(len(un.rows))):
            row = un.rows[r]
            path = self._row_path(row)
            self._row_paths[row] = path
            reverse = row[2] == DIRECTIONS[1]
            if self.cell:
                if row in owned:
                    scene.node(f"w{r}", path, **self._theta_attrs(owned[row]))
                    self._place(f"w{r}", "start")
            else:
                for i in owned.get(row, []):
                    scene.node(f"n{i}", path, **tensor_node_attrs(view, i, False,
                                                                  self.show_shapes))
            for i in sorted(inits.get(row, [])):
                scene.node(f"n{i}", path, **self._init_attrs(i))
                self._place(f"n{i}", "end" if reverse else "start")
            times = sorted(un.row_times[row])
            folded = [t for t in times if t in self.hidden_times]
            for t in times:
                if t in self.hidden_times:
                    if t == folded[0]:
                        self._fold_node(r, row, path, folded)
                    continue
                step_path = path + (("t", r, t),)
                scene.cluster(step_path, name=f"cluster_r{r}_t{t}",
                              label=self._step_label(row, t),
                              **_cluster_style("#aaaaaa", "#ffffff"))
                if self.cell:
                    scene.node(f"s{r}_{t}", step_path, group=f"row{r}",
                               **self._cell_attrs(row, t))
                    self._place(f"s{r}_{t}", t)
                else:
                    for i in self._step_members[(row, t)]:
                        scene.node(f"n{i}", step_path, **self._op_attrs(i))
                        self._place(f"n{i}", t)


    def _fold_node(self, r, row, path, folded):
        n = len(folded)
        fold_path = path + (("fold", r),)
        self.scene.cluster(fold_path, name=f"cluster_r{r}_fold",
                           label=escape.label(f"t={min(folded)} … {max(folded)}"),
                           **_cluster_style("#aaaaaa", "#ffffff", "rounded,dashed"))
        self.scene.node(f"f{r}", fold_path, group=f"row{r}",
                        label=escape.label((f"… {n} steps …", "b"), ("folded", "small")),
                        shape="box", style="rounded,dashed,filled", fillcolor="#f7f7f7",
                        tooltip=escape.tooltip(f"{n} steps folded (max_steps)"))
        self._place(f"f{r}", "fold")

    def _others(self):
        un, view, scene = self.un, self.view, self.scene
        roots = set(view.roots)
        self._outputs = []
        for i in self._time_order():
            if (un.step[i] is not None or i in un.init or i in un.private or i in self._alias
                    or (un.shared[i] and un.owner[i] is not None)):
                continue
            unit = self.unit(i)
            if unit is None:
                continue
            if unit == "out":
                self._outputs.append(i)
                continue
            if self.hidden(i):
                if not scene.has_node(unit):
                    n = len(self.hidden_times)
                    what = "inputs" if unit == "fold_in" else "outputs"
                    scene.node(unit, self._band_path(i),
                               shape="box", style="rounded,dashed,filled",
                               fillcolor="#f7f7f7",
                               label=escape.label((f"… {n} steps …", "b"),
                                                  (f"{what} of the folded steps", "small")))
                    self._place(unit, "fold")
                continue
            attrs = tensor_node_attrs(view, i, i in roots, self.show_shapes)
            t = view.tensors[i]
            if (t.grad_fn is None and view.name(i) is None and un.time[i] is not None
                    and un.below[i] and not un.shared[i]):
                shape = shape_text(t.shape) if self.show_shapes else ""
                attrs["label"] = escape.raw_label(
                    f"<B>x<SUB>{int(un.time[i])}</SUB></B><BR/>"
                    f'<FONT POINT-SIZE="9">{escape.html(shape)}</FONT>')
            scene.node(f"n{i}", self._band_path(i), **attrs)
            if un.time[i] is not None:
                self._place(f"n{i}", un.time[i])
            elif self.cell or un.below[i] or un.shared[i]:
                self._place(f"n{i}", "start" if un.below[i] or un.shared[i] else "end")
        if self._outputs:
            self._outputs_node()

    def _outputs_node(self):
        """Cell view: one node for everything computed from the steps that no later step
        reads (the layer's stacked outputs, heads, the loss), named after the roots."""
        view = self.view
        roots = [i for i in view.roots if i in self._outputs]
        lines = ['<B>outputs → loss</B>' if roots and view.tensors[roots[0]].numel() == 1
                 else "<B>outputs</B>"]
        for i in roots[:4]:
            t = view.tensors[i]
            text = f"{t.op or view.name(i) or 'leaf'} {shape_text(t.shape)}"
            lines.append(f'<FONT POINT-SIZE="9">{escape.html(text)}</FONT>')
        lines.append(f'<FONT POINT-SIZE="9">({len(self._outputs)} ops and leaves)</FONT>')
        ops = sorted({view.tensors[i].op for i in self._outputs if view.tensors[i].op})
        self.scene.node("out", self._outputs_path, label=escape.raw_label("<BR/>".join(lines)),
                        shape="box", style="rounded,filled", fillcolor=COLORS["root"],
                        penwidth="2", tooltip=escape.tooltip("ops: " + ", ".join(ops)))
        self._place("out", "end")

    def _theta_attrs(self, members):
        view = self.view
        rows = ['<TR><TD ALIGN="LEFT"><B>θ</B> shared by every step</TD></TR>']
        leaves = [i for i in members if view.tensors[i].grad_fn is None]
        for i in leaves:
            name = view.name(i) or "leaf"
            shape = shape_text(view.tensors[i].shape) if self.show_shapes else ""
            rows.append(f'<TR><TD ALIGN="LEFT">{escape.html(name)} '
                        f'<FONT POINT-SIZE="9">{escape.html(shape)}</FONT></TD></TR>')
        ops = len(members) - len(leaves)
        if ops:
            rows.append(f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="9">+ {ops} op'
                        f'{"s" * (ops != 1)} on them</FONT></TD></TR>')
        table = '<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0">' + "".join(rows) + "</TABLE>"
        return {"label": escape.raw_label(table), "shape": "note", "style": "filled",
                "fillcolor": COLORS["param"], "tooltip": escape.tooltip("shared parameters")}

    def _init_attrs(self, i):
        names = self.un.init[i][1]
        t = self.view.tensors[i]
        title = self.view.name(i) if t.grad_fn is None and self.view.name(i) else None
        text = f"{', '.join(names)} initial"
        shape = shape_text(t.shape) if self.show_shapes else None
        return {"label": escape.label((text, "b"), title, (shape, "small")),
                "shape": "box", "style": "rounded,filled",
                "fillcolor": COLORS.get(names[0], COLORS["input"]),
                "tooltip": escape.tooltip(f"initial state ({', '.join(names)})")}

    def _cell_attrs(self, row, t):
        net, layer, direction = row
        kind = net[-1] if net else "recurrent"
        ops = self.un.step_ops[(row, t)]
        states = [i for i in ops if self.view.tensors[i].name in ("h", "c")]
        shape = None
        if states and self.show_shapes:
            shape = shape_text(self.view.tensors[states[-1]].shape)
        where = "/".join(net + (f"layer{layer}",) + ((direction,) if direction else ()))
        return {"label": escape.label((f"{kind} cell", "b"), (shape, "small")),
                "shape": "box", "style": "rounded,filled", "fillcolor": "#e8eefc",
                "width": "2.6" if self.norms is not None else "1.2",
                "tooltip": escape.tooltip(f"{where} t={t}: {len(ops)} ops")}

    def _op_attrs(self, i):
        return tensor_node_attrs(self.view, i, i in self.view.roots, self.show_shapes)

    def _step_label(self, row, t):
        """``t=3`` and, with the overlay, ``||dL/dh_t||`` (and ``||dL/dc_t||``), left-aligned
        lines in the top-left corner (clear of the edges at the cell's centre)."""
        lines = [f"<B>t={t}</B>"]
        if self.norms is not None:
            for i in self.un.step_ops[(row, t)]:
                name = self.view.tensors[i].name
                if name in ("h", "c") and i in self.norms:
                    lines.append(f'<FONT POINT-SIZE="9">||∂L/∂{name}|| '
                                 f"{escape.html(fmt(self.norms[i]))}</FONT>")
        return escape.raw_label('<BR ALIGN="LEFT"/>'.join(lines) + '<BR ALIGN="LEFT"/>')

    # ---- edges ---------------------------------------------------------------------------
    def _stack_bands(self, legend):
        """Stack, from the top: outputs, the layers (the last one on top), inputs, legend (see
        :meth:`viz.scene.Scene.stack`); the rows inside the layers are ordered by
        :meth:`_row_order`."""
        bands = [self._outputs_path]
        for k in reversed(range(len(self.layers))):
            bands += ([self._betweens[k]] if k in self._betweens else []) + [self.layers[k]]
        bands.append(self._inputs_path)
        for head in self.scene.stack(bands + (["legend"] if legend else []), "band"):
            self.scene.edge(head, "bar0", style="invis")

    def _time_order(self):
        """Tensor positions sorted by time step (untimed ones last): declaring nodes and edges
        in this order lets Graphviz start from a left-to-right layout."""
        if self._order is None:
            un = self.un
            late = len(un.times) and un.times[-1] + 1
            times = [un.time_of(i) for i in range(len(self.view.tensors))]
            self._order = sorted(range(len(times)),
                                 key=lambda i: (late if times[i] is None else times[i], i))
        return self._order

    def _edges(self):
        """All edges, each drawn from an earlier to a later time column (edges against time,
        as in a reverse-direction row, are drawn turned round with ``dir=back``); then the
        invisible structure that keeps the columns in time order."""
        view = self.view
        seen = set()
        edges = []
        for i in self._time_order():
            v = self.unit(i)
            if v is None:
                continue
            for p in [s for q in view.parents(i) for s in self._sources(q)]:
                u = self.unit(p)
                if u == v:
                    continue
                kind = self.kind(p)
                folded = u[0] == "f" or v[0] == "f"
                key = (u, v, p) if kind in ("h", "c", "data") and not folded else (u, v, kind)
                if key in seen:
                    continue
                seen.add(key)
                attrs = self._edge_attrs(p, kind, self._recurrent(p, i))
                cu, cv = self.col.get(u), self.col.get(v)
                tail, head = u, v
                if cu is not None and cv is not None and cu > cv:
                    tail, head = v, u      # against time (a reverse row): drawn turned round
                    attrs["dir"] = "back"
                if self.cell and cu == cv and cu is not None and (_is_step(u) or _is_step(v)):
                    # Into or out of a cell, inside one time column: drawn vertically, and
                    # turned round because Graphviz puts a flat edge's tail above its head.
                    attrs.update(constraint="false", dir="back")
                    tail, head = v, u
                edges.append((tail, head, attrs))
        if self.cell:
            edges += self._row_order()
        self._barriers(edges)
        for u, v, attrs in edges:
            self.scene.edge(u, v, **attrs)

    def _row_order(self):
        """Cell view: invisible flat edges, in every time column, from each row's cell to the
        next row's below (the last layer on top; in a bidirectional layer the reverse row
        above the forward one, though Graphviz does not always keep that). Graphviz puts a
        flat edge's tail above its head."""
        rows = list(reversed(range(len(self.un.rows))))
        edges = []
        for column in self.columns:
            if column in ("start", "end"):
                continue
            if column == "fold":
                marks = [f"f{r}" for r in rows if self.scene.has_node(f"f{r}")]
            else:
                marks = [f"s{r}_{column}" for r in rows if self.scene.has_node(f"s{r}_{column}")]
            for upper, lower in zip(marks, marks[1:], strict=False):
                edges.append((upper, lower, {"style": "invis", "constraint": "false"}))
        return edges

    def _barriers(self, edges):
        """An invisible barrier node between consecutive time columns, with each column's
        first nodes after the previous barrier and its last nodes before the next: time runs
        left to right whatever Graphviz does to reduce crossings."""
        incoming, outgoing = set(), set()
        flat = {}
        for u, v, attrs in edges:
            if u not in self.col or self.col.get(v) != self.col[u]:
                continue
            if attrs.get("constraint") == "false":
                group = flat.setdefault(self.col[u], [])
                group.extend(n for n in (u, v) if n not in group)
            else:
                incoming.add(v)
                outgoing.add(u)
        for k in sorted(flat):   # a cell and what enters or leaves it upwards: one rank
            self.scene.rank_same(flat[k])
        last = len(self.columns) - 1
        for k in range(last):
            self.scene.node(f"bar{k}", (), **INVISIBLE)
            if k:
                self.scene.edge(f"bar{k - 1}", f"bar{k}", style="invis")
        for nid, k in self.col.items():
            if k > 0 and nid not in incoming:
                self.scene.edge(f"bar{k - 1}", nid, style="invis")
            if k < last and nid not in outgoing:
                self.scene.edge(nid, f"bar{k}", style="invis")

    def _recurrent(self, p, i):
        """Whether the edge from tensor ``p`` into tensor ``i`` carries a state from one step
        of a row to a later one (or an initial state into the first)."""
        un = self.un
        key = un.step[i] if un.step[i] is not None else un.private.get(i)
        if key is None:
            return False
        if p in un.init:
            return un.init[p][0] == key[0]
        return un.step[p] is not None and un.step[p][0] == key[0] and un.step[p][1] != key[1]

    def _edge_attrs(self, p, kind, recurrent=True):
        """Style of an edge carrying tensor ``p``. The gradient overlay goes on the recurrent
        state edges (``recurrent``); other edges carrying a state (up to the next layer, out
        to the outputs) are drawn thin."""
        attrs = {}
        if kind in ("h", "c") and not recurrent:
            color = H_COLOR if kind == "h" else C_COLOR
            attrs.update(color=color, penwidth="0.8")
            if kind == "c":
                attrs["color"] = f"{color}:#ffffff:{color}"
        elif kind in ("h", "c"):
            color = H_COLOR if kind == "h" else C_COLOR
            attrs.update(color=color, penwidth="1.6" if kind == "h" else "1.2")
            if self.cell:   # xlabel: placed after the layout, so it cannot disturb it
                attrs.update(xlabel=escape.label((kind, "b")), fontcolor=color)
            if self.norms is not None and p in self.norms:
                over = self.scale.edge_attrs(self.norms[p])
                attrs.update(over)
                attrs["fontcolor"] = "#333333"
                attrs["tooltip"] = escape.tooltip(f"||∂L/∂{kind}|| = {self.norms[p]:.6g}")
            if kind == "c":
                col = attrs["color"]
                attrs["color"] = f"{col}:#ffffff:{col}"
        elif kind == "w":
            attrs.update(style="dashed", color=W_COLOR, arrowhead="empty")
        else:
            attrs.update(color=X_COLOR)
        return attrs

    # ---- legend --------------------------------------------------------------------------
    def _legend(self):
        has_c = any(self.view.tensors[i].name == "c" for i in self.un.states)
        rows = ['<TR><TD COLSPAN="5" ALIGN="LEFT"><B>legend</B></TD></TR>',
                _legend_line(H_COLOR, "━━━", "h: hidden state h<SUB>t</SUB> (the recurrence)")]
        if has_c:
            rows.append(_legend_line(C_COLOR, "═══", "c: cell state c<SUB>t</SUB> (LSTM's "
                                     "constant error carousel)"))
        rows.append(_legend_line(W_COLOR, "╌╌▷", "shared weights: drawn once, an edge into "
                                 "every step (so BPTT sums their gradient over time)"))
        if self.scale is not None:
            rows.append(legend_rows(self.scale))
        table = ('<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="1">' + "".join(rows)
                 + "</TABLE>")
        self.scene.node("legend", (), label=escape.raw_label(table), shape="box",
                        style="rounded", color="#bbbbbb")


_BAND = {"style": "invis", "label": ""}   # clusters inherit the graph's label otherwise


def _is_step(nid):
    """Whether ``nid`` is a cell or fold node of a row (the cell view's ``s<r>_<t>``,
    ``f<r>``)."""
    return nid[0] in "sf" and nid[1:2].isdigit()


def _legend_line(color, sample, text):
    return (f'<TR><TD ALIGN="LEFT"><FONT COLOR="{color}"><B>{sample}</B></FONT></TD>'
            f'<TD COLSPAN="4" ALIGN="LEFT"><FONT POINT-SIZE="9">{text}</FONT></TD></TR>')


def _cluster_style(color, fill, style="rounded,filled", labelloc="t"):
    """Cluster attributes (label in the top-left corner)."""
    return {"style": style, "color": color, "fillcolor": fill, "fontsize": "10",
            "labeljust": "l", "labelloc": labelloc}

