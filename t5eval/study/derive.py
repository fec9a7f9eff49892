"""Level option values computed from the scale: `=` expressions and `{tasks}` placeholders.

A study level states the paper's definition once and every scale gets its own numbers:
  steps: "=pretrain.steps * 4"                                     Table 13: 4x the scale's pre-training steps
  corpus_tokens: "=round(pretrain.steps * pretrain.rows * pretrain.chunk_tokens / 64)"   Table 9: 64 repeats
  mix_tasks: "{tasks}"                                              Tables 11-12: the study's tasks at this scale

An expression is arithmetic (+ - * / // ** and parentheses, numbers, `round`, `max`, `min`, `ceil`, `floor`)
over the scale's options, named `pretrain.NAME` / `run.NAME` (the scale's value after the study's per-scale
overrides, before any level's own), plus `pretrain.rows` (sequences per step: batch_tokens // inputs_length) and
`pretrain.chunk_tokens` (corpus tokens per pre-training example for the level's objective and inputs length:
`Objective.tokens_per_chunk`). It is parsed with `ast` and evaluated by walking the tree: no `eval`.
Placeholders in string values: `{tasks}` (the study's tasks, comma-separated), `{task}` and `{other_tasks}`
(a per-task level: the task of the chain and the others).
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

from t5eval.errors import T5evalError, did_you_mean

PLACEHOLDERS = ("tasks", "task", "other_tasks")
_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Pow: operator.pow, ast.Mod: operator.mod,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {"round": round, "max": max, "min": min, "ceil": math.ceil,
                                             "floor": math.floor}
DERIVED = ("pretrain.rows", "pretrain.chunk_tokens")


def is_expression(value: object) -> bool:
    return isinstance(value, str) and value.startswith("=")


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return f"{node.value.id}.{node.attr}"
    return None


def expression_names(text: str) -> list[str]:
    """The `command.option` names an expression uses; a syntax error or a form outside the allowed
    arithmetic is a `T5evalError` (without a location: the caller adds file and key)."""
    try:
        tree = ast.parse(text[1:].strip(), mode="eval")
    except SyntaxError:
        raise T5evalError(f"{text!r} is not an expression (e.g. \"=pretrain.steps * 4\")") from None
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            name = _dotted(node)
            if name is None or not name.startswith(("pretrain.", "run.")):
                raise T5evalError(f"{text!r}: names are pretrain.OPTION or run.OPTION (e.g. pretrain.steps)")
            names.append(name)
        elif isinstance(node, ast.Name) and node.id not in _FUNCTIONS and node.id not in ("pretrain", "run"):
            raise T5evalError(f"{text!r}: unknown name {node.id!r}; use pretrain.OPTION, run.OPTION or "
                              f"{', '.join(_FUNCTIONS)}")
        elif isinstance(node, ast.Call | ast.BinOp | ast.UnaryOp | ast.Constant | ast.Expression | ast.Load
                        | ast.Name | ast.operator | ast.unaryop):
            if isinstance(node, ast.Constant) and not isinstance(node.value, int | float):
                raise T5evalError(f"{text!r}: only numbers, not {node.value!r}")
        else:
            raise T5evalError(f"{text!r}: only arithmetic (+ - * / // ** %), numbers, option names and "
                              f"{', '.join(_FUNCTIONS)} are allowed")
    return names


def evaluate(text: str, values: Mapping[str, Any]) -> float | int:
    """The value of expression `text` ("=...") with `values` for its names; a name the scale does not set is
    a `T5evalError` naming it."""
    expression_names(text)  # checks the allowed forms

    def walk(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Attribute):
            name = _dotted(node) or ""
            if name not in values or values[name] is None:
                raise T5evalError(f"{text!r}: {name} is not set at this scale{did_you_mean(name, values)}")
            return values[name]
        if isinstance(node, ast.BinOp):
            return _BINARY[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            value = walk(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS:
            return _FUNCTIONS[node.func.id](*[walk(a) for a in node.args])
        raise T5evalError(f"{text!r}: unsupported form {ast.dump(node)[:40]}")

    try:
        result = walk(ast.parse(text[1:].strip(), mode="eval"))
    except ZeroDivisionError:
        raise T5evalError(f"{text!r}: division by zero at this scale") from None
    return result  # type: ignore[no-any-return]


def placeholders(value: str) -> list[str]:
    """The `{name}` placeholders in a string option; an unknown one is a `T5evalError`."""
    import string

    names = [field for _, field, _, _ in string.Formatter().parse(value) if field is not None]
    for name in names:
        if name not in PLACEHOLDERS:
            raise T5evalError(f"{value!r}: unknown placeholder {{{name}}}{did_you_mean(name, PLACEHOLDERS)}; "
                              f"use {', '.join('{' + p + '}' for p in PLACEHOLDERS)}")
    return names


def fill(value: str, tasks: list[str], task: str | None) -> str:
    """`value` with its placeholders replaced: {tasks}, {task} and {other_tasks} (per-task levels only)."""
    names = placeholders(value)
    if task is None and {"task", "other_tasks"} & set(names):
        raise T5evalError(f"{value!r}: {{task}} and {{other_tasks}} need a per-task level (per_task: true)")
    others = [t for t in tasks if t != task]
    if "other_tasks" in names and not others:
        raise T5evalError(f"{value!r}: {{other_tasks}} is empty with the one task {task!r}; give the study (or "
                          "its scale) at least two tasks")
    return value.format(tasks=",".join(tasks), task=task or "", other_tasks=",".join(others))


def expression_values(scale_options: Mapping[str, Mapping[str, Any]], pretrain: Mapping[str, Any],
                      chunk_tokens: Callable[[Mapping[str, Any]], int | None]) -> dict[str, Any]:
    """The names an expression may use: every scale option of both commands, `pretrain.rows`, and
    `pretrain.chunk_tokens` for the level's pre-training options `pretrain`."""
    values = {f"{command}.{k}": v for command, options in scale_options.items() for k, v in options.items()}
    batch, length = pretrain.get("batch_tokens"), pretrain.get("inputs_length")
    if isinstance(batch, int) and isinstance(length, int) and length > 0:
        values["pretrain.rows"] = batch // length
    values["pretrain.chunk_tokens"] = chunk_tokens(pretrain)
    return values
