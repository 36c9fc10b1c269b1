"""A small, deterministic builder of Graphviz digraphs with nested clusters.

Drawing code adds nodes, edges and clusters in a deterministic order; ``to_digraph`` emits them
in exactly that order (clusters nested as declared), so the same recorded graph always gives
byte-identical DOT. Identifiers are generated here (``cluster_0``, ...); labels and tooltips
must already be escaped (see :mod:`viz.escape`).
"""

import graphviz

INVISIBLE = {"shape": "point", "style": "invis", "width": "0", "height": "0", "label": ""}


class Scene:
    """Nodes, edges and a tree of clusters, emitted as one ``graphviz.Digraph``."""

    def __init__(self, name="minigrad", graph_attr=None, node_attr=None, edge_attr=None):
        self.name = name
        self.graph_attr = dict(graph_attr or {})
        self.node_attr = dict(node_attr or {})
        self.edge_attr = dict(edge_attr or {})
        self._clusters = {(): _Cluster("", {})}
        self._node_cluster = {}
        self.edges = []
        self._same_rank = []

    # ---- building ---------------------------------------------------------------------
    def cluster(self, path, name=None, **attrs):
        """Declare the cluster at ``path`` (a tuple of keys; parents are created as needed)
        and update its attributes. ``name`` (an identifier starting with ``cluster``, never
        user text) replaces the generated ``cluster_<k>`` of a new cluster. Returns ``path``."""
        path = tuple(path)
        for i in range(1, len(path) + 1):
            sub = path[:i]
            if sub not in self._clusters:
                ident = name if name and i == len(path) else f"cluster_{len(self._clusters) - 1}"
                self._clusters[sub] = _Cluster(ident, {})
                self._clusters[path[:i - 1]].children.append(sub)
        self._clusters[path].attrs.update(attrs)
        return path

    def node(self, nid, cluster=(), **attrs):
        """Add node ``nid`` (an identifier made by the caller, never user text) inside
        ``cluster`` (a path given to :meth:`cluster`, ``()`` for the top level)."""
        if nid in self._node_cluster:
            raise ValueError(f"Scene: node {nid!r} added twice")
        cluster = self.cluster(cluster) if cluster else ()
        self._node_cluster[nid] = cluster
        self._clusters[cluster].nodes.append((nid, attrs))

    def has_node(self, nid):
        return nid in self._node_cluster

    def edge(self, tail, head, **attrs):
        self.edges.append((tail, head, attrs))

    def rank_same(self, nids, cluster=()):
        """Keep the nodes ``nids`` (direct members of ``cluster``) on one rank."""
        self._same_rank.append((tuple(cluster), list(nids)))

    def stack(self, bands, prefix, cluster=(), pull=3):
        """Order ``bands`` (cluster paths or node ids directly inside ``cluster``; the first
        is the first in its rank: the top in a left-to-right layout). Graphviz keeps the order
        of flat edges between direct members of one cluster, not between sub-clusters, so a
        chain of invisible anchors in ``cluster`` (``pull`` per band) each pull a band
        (through an invisible node inside it) into place. Returns the nodes added inside the
        bands."""
        anchors, heads = [], []
        for k, band in enumerate(bands):
            for j in range(pull if isinstance(band, tuple) else 1):
                anchor = f"{prefix}a{k}_{j}"
                self.node(anchor, cluster, **INVISIBLE)
                anchors.append(anchor)
                if isinstance(band, tuple):
                    head = f"{prefix}h{k}_{j}"
                    self.node(head, band, **INVISIBLE)
                    heads.append(head)
                else:
                    head = band
                self.edge(anchor, head, style="invis", weight="100")
        for a, b in zip(anchors, anchors[1:], strict=False):
            self.edge(a, b, style="invis")
        self.rank_same(anchors, cluster)
        return heads

    @property
    def num_nodes(self):
        return len(self._node_cluster)

    @property
    def num_clusters(self):
        return len(self._clusters) - 1

    # ---- output ----------------------------------------------------------------------
    def to_digraph(self):
        dot = graphviz.Digraph(self.name, graph_attr=self.graph_attr,
                               node_attr=self.node_attr, edge_attr=self.edge_attr)
        self._emit(dot, ())
        for tail, head, attrs in self.edges:
            dot.edge(tail, head, **attrs)
        return dot

    def _emit(self, graph, path):
        cl = self._clusters[path]
        for nid, attrs in cl.nodes:
            graph.node(nid, **attrs)
        for where, nids in self._same_rank:
            if where == path and len(nids) > 1:
                graph.body.append("\t{rank=same; " + "; ".join(nids) + "}\n")
        for child in cl.children:
            sub = self._clusters[child]
            with graph.subgraph(name=sub.name) as g:
                g.attr(**sub.attrs)
                self._emit(g, child)



class _Cluster:
    __slots__ = ("name", "attrs", "nodes", "children")

    def __init__(self, name, attrs):
        self.name = name
        self.attrs = attrs
        self.nodes = []
        self.children = []
