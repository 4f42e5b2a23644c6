"""Print the import cycles of the module graph: every strongly connected set of modules that
import each other, function-local and TYPE_CHECKING imports included (grimp reads them all).

`.venv/bin/python tools/import_cycles.py` prints the count and each set; `lint-imports` (in
`make test`) is what keeps it at zero.
"""

from __future__ import annotations

import importlib.util

import grimp

# The project's packages (those present: an older checkout may lack `demo`).
PACKAGES = ("ketenbus_contracts", "ketenbus_partner", "services", "adapters", "demo")


def cycles() -> list[list[str]]:
    present = [p for p in PACKAGES if importlib.util.find_spec(p) is not None]
    graph = grimp.build_graph(*present, cache_dir=None)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        # Tarjan's algorithm, iteratively: (module, position in its import list).
        work = [(root, 0)]
        while work:
            module, i = work.pop()
            if i == 0:
                index[module] = low[module] = len(index)
                stack.append(module)
            targets = edges[module]
            if i < len(targets):
                work.append((module, i + 1))
                target = targets[i]
                if target not in index:
                    work.append((target, 0))
                elif target in stack:
                    low[module] = min(low[module], index[target])
                continue
            if low[module] == index[module]:
                component = []
                while True:
                    member = stack.pop()
                    component.append(member)
                    if member == module:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[module])
    return found


if __name__ == "__main__":
    found = cycles()
    print(f"{len(found)} import cycles, {sum(map(len, found))} modules in them")
    for component in found:
        print(f"  {len(component)}: {', '.join(component)}")
