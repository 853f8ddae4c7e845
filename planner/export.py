"""The decision graph as JSON (node-link), Graphviz DOT or Mermaid text."""

from __future__ import annotations

import json

import networkx as nx

from planner.graph import DecisionGraph

__all__ = ["GRAPH_FORMATS", "export_graph"]

GRAPH_FORMATS = ("json", "dot", "mermaid")


def _ids(graph: nx.DiGraph) -> dict[str, str]:
    return {node: f"n{i}" for i, node in enumerate(graph.nodes)}


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', "'")


def _to_json(dg: DecisionGraph) -> str:
    data = nx.node_link_data(dg.graph, edges="edges")
    return json.dumps(data, indent=2, default=str)


def _to_dot(dg: DecisionGraph) -> str:
    ids = _ids(dg.graph)
    lines = ["digraph decisions {", "  rankdir=LR;", "  node [shape=box, fontsize=10];"]
    for node, attrs in dg.graph.nodes(data=True):
        style = "" if attrs.get("feasible", True) else ", style=dashed, color=gray"
        lines.append(f'  {ids[node]} [label="{_quote(str(attrs.get("label", node)))}"{style}];')
    for u, v, attrs in dg.graph.edges(data=True):
        style = ' [style=dashed, color=gray, tooltip="pruned"]' if attrs.get("pruned") else ""
        lines.append(f"  {ids[u]} -> {ids[v]}{style};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _to_mermaid(dg: DecisionGraph) -> str:
    ids = _ids(dg.graph)
    lines = ["flowchart LR"]
    for node, attrs in dg.graph.nodes(data=True):
        label = _quote(str(attrs.get("label", node)))[:80]
        lines.append(f'  {ids[node]}["{label}"]')
    for u, v, attrs in dg.graph.edges(data=True):
        arrow = "-.->" if attrs.get("pruned") else "-->"
        lines.append(f"  {ids[u]} {arrow} {ids[v]}")
    return "\n".join(lines) + "\n"


def export_graph(dg: DecisionGraph, fmt: str) -> str:
    """The graph in ``fmt`` (json, dot or mermaid). Pruned edges are dashed / flagged."""
    return {"json": _to_json, "dot": _to_dot, "mermaid": _to_mermaid}[fmt](dg)
