"""The package's layering, checked on the source: rclpy only in the ROS adapters, and no
module that (even from inside a function) imports a module that imports it back."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "scr_localizer"
ROS_LAYERS = ("scr_localizer.ros", "scr_localizer.cli")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, package: str) -> set[str]:
    """Every module named by an import statement anywhere in the file (relative ones resolved
    against `package`, the package the file is in)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _modules() -> dict[str, set[str]]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = _module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        modules[name] = _imports(path, package)
    return modules


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target, stack)
        stack.pop()
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
    return cycles


def test_rclpy_is_imported_only_by_the_ros_and_cli_layers():
    offenders = sorted(
        name for name, imports in _modules().items()
        if not name.startswith(ROS_LAYERS)
        and any(i == "rclpy" or i.startswith("rclpy.") for i in imports)
    )
    assert not offenders, f"modules outside scr_localizer.ros/cli importing rclpy: {offenders}"


def test_no_import_cycles_inside_the_package():
    modules = _modules()
    graph = {
        name: {i for i in imports if i in modules and i != name}
        for name, imports in modules.items()
    }
    cycles = _cycles(graph)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_checker_sees_function_level_imports(tmp_path):
    """Guard against a checker that passes because it reads nothing."""
    module = tmp_path / "sample.py"
    module.write_text("def f():\n    import rclpy.node\n    from .x import y\n")
    assert {"rclpy.node", "pkg.x", "pkg.x.y"} <= _imports(module, "pkg")
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert _modules()["scr_localizer.ros.replay"] & {"rclpy", "rclpy.executors"}
