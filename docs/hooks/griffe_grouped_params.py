"""Griffe extension: read ``a, b: shared description`` in a Google-style Args section as two entries.

The house style documents related parameters together (``n_visible, n_hidden: layer sizes.``).
Griffe's Google parser reads that as one parameter named ``"n_visible, n_hidden"`` and warns that it
is not in the signature, which a strict build turns into an error. This extension rewrites such an
entry into one entry per name, each with the shared description, before the docstring is parsed.
When the callable takes ``**kwargs``, documented names that are not explicit parameters (keywords
it forwards) go into an ``Other Parameters`` section, which griffe does not check against the
signature. A name that is really missing from a signature without ``**kwargs`` still warns.
"""

from __future__ import annotations

import re

import griffe

_SECTION = re.compile(r"^(\s*)(Args|Arguments|Parameters|Params|Other Parameters):\s*$")
_GROUPED = re.compile(r"^(\s+)(\*{0,2}\w+(?:\s*,\s*\*{0,2}\w+)+)(\s*\([^)]*\))?:(.*)$")


def split_grouped_parameters(text: str, forwarded: set[str] | None = None) -> str:
    """Return ``text`` with every grouped Args entry split into one entry per parameter name.

    ``forwarded``: when the callable takes ``**kwargs``, the names of its explicit parameters;
    documented names outside it are moved into an ``Other Parameters`` section (forwarded keywords).
    """
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        header = _SECTION.match(lines[i])
        if not header:
            out.append(lines[i])
            i += 1
            continue
        section_indent = len(header.group(1))
        out.append(lines[i])
        i += 1
        entries: list[tuple[str, list[str]]] = []  # (name, lines)
        item_indent = None
        while i < len(lines):
            line = lines[i]
            if line.strip():
                indent = len(line) - len(line.lstrip())
                if indent <= section_indent:
                    break
                if item_indent is None:
                    item_indent = indent
                if indent == item_indent:
                    match = _GROUPED.match(line)
                    names = [n.strip() for n in match.group(2).split(",")] if match else [line.split(":")[0].split("(")[0].strip()]
                    entries.append((names, [line]))
                    i += 1
                    continue
            elif i + 1 >= len(lines) or not lines[i + 1].strip() or len(lines[i + 1]) - len(lines[i + 1].lstrip()) <= section_indent:
                break
            if entries:
                entries[-1][1].append(line)
            i += 1
        kept: list[str] = []
        other: list[str] = []
        for names, block in entries:
            match = _GROUPED.match(block[0]) if len(names) > 1 else None
            for name in names:
                first = f"{match.group(1)}{name}{match.group(3) or ''}:{match.group(4)}" if match else block[0]
                target = other if forwarded is not None and name.lstrip("*") not in forwarded else kept
                target.extend([first, *block[1:]])
        out.extend(kept)
        if other:
            out.extend(["", " " * section_indent + "Other Parameters:"])
            out.extend(other)
    return "\n".join(out)


class GroupedParameters(griffe.Extension):
    """Split grouped parameter entries before the docstrings are parsed."""

    def on_object(self, *, obj, **kwargs) -> None:  # noqa: D102 - griffe hook
        if obj.is_alias or obj.docstring is None:
            return
        forwarded = None
        try:
            parameters = list(obj.parameters) if (obj.is_function or obj.is_class) else []
        except Exception:  # a class whose __init__ griffe cannot see
            parameters = []
        if any(p.kind is griffe.ParameterKind.var_keyword for p in parameters):
            forwarded = {p.name for p in parameters}
        obj.docstring.value = split_grouped_parameters(obj.docstring.value, forwarded)
