"""Walking a pglast parse tree: every node, depth first, in the order the SQL names them."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast


def nodes(tree: object) -> Iterator[ast.Node]:
    """Every `ast.Node` in `tree` (a node, or a tuple or list of them), parents first."""
    if isinstance(tree, ast.Node):
        yield tree
        for attr in tree:
            yield from nodes(getattr(tree, attr))
    elif isinstance(tree, tuple | list):
        for item in tree:
            yield from nodes(item)
