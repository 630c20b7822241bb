"""The shell language the simulated containers understand, parsed as a POSIX shell does.

Enough of it for what pods of a course run (``sh -c 'while true; do ...; done'``) and what a
trainee types in ``kubectl exec``: words with single and double quotes and backslashes,
``$VAR``, ``${VAR}``, ``$?``, ``$(...)``, backquotes and ``$((...))``; simple commands with
assignments and redirections (``>``, ``>>``, ``<``, ``2>&1``, ``2>/dev/null``, ``&>``);
pipelines, ``!``, ``&&``, ``||``, ``;``, ``&``, newlines and comments; ``while``, ``until``,
``for``, ``if``/``elif``/``else``, ``{ ...; }`` and ``( ... )``. Functions, ``case`` and here
documents are not part of it: a script that uses them is a `ScriptError`, as a syntax error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "AndOr",
    "For",
    "Group",
    "If",
    "Part",
    "Pipeline",
    "Redirect",
    "ScriptError",
    "Sequence",
    "Simple",
    "While",
    "Word",
    "parse",
]

_OPERATORS = ("&&", "||", ";;", "&>", ">>", ";", "&", "|", "(", ")", "<", ">")
_KEYWORDS = {"while", "until", "for", "do", "done", "if", "then", "elif", "else", "fi", "in",
             "{", "}", "!", "case", "esac", "function"}  # fmt: skip


class ScriptError(ValueError):
    """A script the shell cannot parse; the message is the shell's."""


@dataclass(frozen=True)
class Part:
    """A piece of a word: ``lit`` text, or a ``var``, ``cmd`` (a command substitution) or
    ``arith`` to expand; ``quoted`` parts are not split into fields."""

    kind: str
    text: str
    quoted: bool = False


@dataclass(frozen=True)
class Word:
    parts: tuple[Part, ...]

    @property
    def literal(self) -> str | None:
        """The word's text when it has no expansion and no quotes (keywords are such words)."""
        if all(p.kind == "lit" and not p.quoted for p in self.parts):
            return "".join(p.text for p in self.parts)
        return None


@dataclass(frozen=True)
class Redirect:
    """``fd`` (1 stdout, 2 stderr, 0 stdin, -1 both) goes to ``target`` (a word) or, with
    ``dup``, to the named descriptor; ``append`` for ``>>``."""

    fd: int
    target: Word | None
    append: bool = False
    dup: int | None = None


@dataclass
class Simple:
    assignments: list[tuple[str, Word]] = field(default_factory=list)
    words: list[Word] = field(default_factory=list)
    redirects: list[Redirect] = field(default_factory=list)


@dataclass
class Pipeline:
    commands: list[object]
    negate: bool = False


@dataclass
class AndOr:
    first: Pipeline
    rest: list[tuple[str, Pipeline]] = field(default_factory=list)


@dataclass
class Sequence:
    items: list[tuple[AndOr, bool]] = field(default_factory=list)  # (command, in background)


@dataclass
class While:
    condition: Sequence
    body: Sequence
    until: bool = False
    redirects: list[Redirect] = field(default_factory=list)


@dataclass
class For:
    name: str
    words: list[Word] | None
    body: Sequence
    redirects: list[Redirect] = field(default_factory=list)


@dataclass
class If:
    branches: list[tuple[Sequence, Sequence]]
    otherwise: Sequence | None = None
    redirects: list[Redirect] = field(default_factory=list)


@dataclass
class Group:
    body: Sequence
    subshell: bool = False
    redirects: list[Redirect] = field(default_factory=list)


# -- tokens -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # "word", "op", "newline", "redirect"
    word: Word | None = None
    op: str = ""
    fd: int = 1


def _closing(text: str, start: int, opening: str, closing: str) -> int:
    """The index after the bracket that closes the one opened before ``start``."""
    depth, i = 1, start
    quote = ""
    while i < len(text):
        char = text[i]
        if quote:
            if char == quote:
                quote = ""
            elif char == "\\" and quote == '"':
                i += 1
        elif char in "'\"":
            quote = char
        elif char == "\\":
            i += 1
        elif text.startswith(opening, i):
            depth += 1
            i += len(opening) - 1
        elif text.startswith(closing, i):
            depth -= 1
            if depth == 0:
                return i + len(closing)
        i += 1
    raise ScriptError(f"syntax error: unterminated {opening}")


def _dollar(text: str, i: int, quoted: bool) -> tuple[Part, int]:
    """The expansion starting at ``text[i] == "$"``, and the index after it."""
    rest = text[i + 1 :]
    if rest.startswith("(("):
        end = _closing(text, i + 3, "((", "))")
        return Part("arith", text[i + 3 : end - 2], quoted), end
    if rest.startswith("("):
        end = _closing(text, i + 2, "(", ")")
        return Part("cmd", text[i + 2 : end - 1], quoted), end
    if rest.startswith("{"):
        end = text.find("}", i + 2)
        if end < 0:
            raise ScriptError("syntax error: bad substitution")
        return Part("var", text[i + 2 : end], quoted), end + 1
    if rest[:1] and rest[0] in "?$#!@*0123456789-":
        return Part("var", rest[0], quoted), i + 2
    j = i + 1
    while j < len(text) and (text[j].isalnum() or text[j] == "_"):
        j += 1
    if j == i + 1:
        return Part("lit", "$", quoted), i + 1
    return Part("var", text[i + 1 : j], quoted), j


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    parts: list[Part] = []
    literal: list[str] = []
    started = False
    i = 0

    def flush_literal(quoted: bool = False) -> None:
        if literal:
            parts.append(Part("lit", "".join(literal), quoted))
            literal.clear()

    def end_word() -> None:
        nonlocal started
        flush_literal()
        if started:
            tokens.append(_Token("word", Word(tuple(parts))))
        parts.clear()
        started = False

    while i < len(text):
        char = text[i]
        if char in " \t":
            end_word()
            i += 1
        elif char == "\n":
            end_word()
            tokens.append(_Token("newline"))
            i += 1
        elif char == "#" and not started:
            while i < len(text) and text[i] != "\n":
                i += 1
        elif char == "\\":
            if text[i + 1 : i + 2] == "\n":
                i += 2
                continue
            flush_literal()
            parts.append(Part("lit", text[i + 1 : i + 2], True))
            started = True
            i += 2
        elif char == "'":
            end = text.find("'", i + 1)
            if end < 0:
                raise ScriptError("syntax error: unterminated quoted string")
            flush_literal()
            parts.append(Part("lit", text[i + 1 : end], True))
            started = True
            i = end + 1
        elif char == '"':
            flush_literal()
            started = True
            i += 1
            while True:
                if i >= len(text):
                    raise ScriptError("syntax error: unterminated quoted string")
                char = text[i]
                if char == '"':
                    i += 1
                    break
                if char == "\\" and text[i + 1 : i + 2] in ('"', "\\", "$", "`", "\n"):
                    literal.append(text[i + 1])
                    i += 2
                elif char == "$":
                    flush_literal(True)
                    part, i = _dollar(text, i, True)
                    parts.append(part)
                elif char == "`":
                    end = text.find("`", i + 1)
                    if end < 0:
                        raise ScriptError("syntax error: unterminated backquote")
                    flush_literal(True)
                    parts.append(Part("cmd", text[i + 1 : end], True))
                    i = end + 1
                else:
                    literal.append(char)
                    i += 1
            flush_literal(True)
            if not parts or parts[-1].kind != "lit":
                parts.append(Part("lit", "", True))
        elif char == "$":
            flush_literal()
            part, i = _dollar(text, i, False)
            parts.append(part)
            started = True
        elif char == "`":
            end = text.find("`", i + 1)
            if end < 0:
                raise ScriptError("syntax error: unterminated backquote")
            flush_literal()
            parts.append(Part("cmd", text[i + 1 : end], False))
            started = True
            i = end + 1
        elif char in "<>" and started and not parts and "".join(literal).isdigit():
            fd = int("".join(literal))
            literal.clear()
            started = False
            i = _redirect(text, i, fd, tokens)
        elif char in "<>" or text.startswith("&>", i):
            end_word()
            i = _redirect(text, i, -1 if text.startswith("&>", i) else (0 if char == "<" else 1),
                          tokens)  # fmt: skip
        elif char in ";&|()":
            end_word()
            op = next(o for o in _OPERATORS if text.startswith(o, i))
            tokens.append(_Token("op", op=op))
            i += len(op)
        else:
            literal.append(char)
            started = True
            i += 1
    end_word()
    return tokens


def _redirect(text: str, i: int, fd: int, tokens: list[_Token]) -> int:
    if text.startswith("&>", i):
        i += 2
        op = ">"
    elif text.startswith(">>", i):
        op, i = ">>", i + 2
    else:
        op, i = text[i], i + 1
    if text.startswith("&", i) and op != "<":
        j = i + 1
        while j < len(text) and text[j].isdigit():
            j += 1
        tokens.append(_Token("redirect", op=f"{op}&{text[i + 1 : j]}", fd=fd))
        return j
    tokens.append(_Token("redirect", op=op, fd=fd))
    return i


# -- grammar ----------------------------------------------------------------------------------


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.at = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def next(self) -> _Token:
        token = self.peek()
        if token is None:
            raise ScriptError("syntax error: unexpected end of file")
        self.at += 1
        return token

    def keyword(self) -> str | None:
        token = self.peek()
        if token is not None and token.kind == "word" and token.word is not None:
            literal = token.word.literal
            if literal in _KEYWORDS:
                return literal
        return None

    def expect(self, word: str) -> None:
        if self.keyword() != word:
            token = self.peek()
            shown = "end of file" if token is None else _shown(token)
            raise ScriptError(f'syntax error: unexpected {shown} (expecting "{word}")')
        self.at += 1

    def skip_newlines(self) -> None:
        while (token := self.peek()) is not None and token.kind == "newline":
            self.at += 1

    def sequence(self, *ends: str) -> Sequence:
        sequence = Sequence()
        self.skip_newlines()
        while (token := self.peek()) is not None:
            if self.keyword() in ends or (token.kind == "op" and token.op == ")"):
                break
            closing = self.keyword()
            if closing in ("do", "done", "then", "elif", "else", "fi", "}"):
                expecting = f' (expecting "{ends[0]}")' if ends else ""
                raise ScriptError(f'syntax error: unexpected "{closing}"{expecting}')
            command = self.and_or()
            background = False
            token = self.peek()
            if token is not None and token.kind == "op" and token.op in (";", "&"):
                background = token.op == "&"
                self.at += 1
            elif token is not None and token.kind == "newline":
                self.at += 1
            elif (
                token is not None
                and not (token.kind == "op" and token.op == ")")
                and self.keyword() not in ends
            ):
                raise ScriptError(f"syntax error: unexpected {_shown(token)}")
            sequence.items.append((command, background))
            self.skip_newlines()
        return sequence

    def and_or(self) -> AndOr:
        first = self.pipeline()
        result = AndOr(first)
        while (token := self.peek()) is not None and token.kind == "op" and token.op in (
            "&&", "||",
        ):  # fmt: skip
            self.at += 1
            self.skip_newlines()
            result.rest.append((token.op, self.pipeline()))
        return result

    def pipeline(self) -> Pipeline:
        negate = False
        if self.keyword() == "!":
            self.at += 1
            negate = True
        commands = [self.command()]
        while (token := self.peek()) is not None and token.kind == "op" and token.op == "|":
            self.at += 1
            self.skip_newlines()
            commands.append(self.command())
        return Pipeline(commands, negate)

    def command(self) -> object:
        keyword = self.keyword()
        token = self.peek()
        if keyword in ("while", "until"):
            self.at += 1
            condition = self.sequence("do")
            self.expect("do")
            body = self.sequence("done")
            self.expect("done")
            return While(condition, body, keyword == "until", self.redirects())
        if keyword == "for":
            self.at += 1
            name_token = self.next()
            name = name_token.word.literal if name_token.word else None
            if not name:
                raise ScriptError("syntax error: bad for loop variable")
            words: list[Word] | None = None
            self.skip_newlines()
            if self.keyword() == "in":
                self.at += 1
                words = []
                while (token := self.peek()) is not None and token.kind == "word":
                    words.append(token.word)  # type: ignore[arg-type]
                    self.at += 1
            token = self.peek()
            if token is not None and token.kind == "op" and token.op == ";":
                self.at += 1
            self.skip_newlines()
            self.expect("do")
            body = self.sequence("done")
            self.expect("done")
            return For(name, words, body, self.redirects())
        if keyword == "if":
            self.at += 1
            branches = []
            condition = self.sequence("then")
            self.expect("then")
            branches.append((condition, self.sequence("elif", "else", "fi")))
            otherwise = None
            while self.keyword() == "elif":
                self.at += 1
                condition = self.sequence("then")
                self.expect("then")
                branches.append((condition, self.sequence("elif", "else", "fi")))
            if self.keyword() == "else":
                self.at += 1
                otherwise = self.sequence("fi")
            self.expect("fi")
            return If(branches, otherwise, self.redirects())
        if keyword == "{":
            self.at += 1
            body = self.sequence("}")
            self.expect("}")
            return Group(body, False, self.redirects())
        if token is not None and token.kind == "op" and token.op == "(":
            self.at += 1
            body = self.sequence()
            closing = self.next()
            if closing.kind != "op" or closing.op != ")":
                raise ScriptError(f"syntax error: unexpected {_shown(closing)}")
            return Group(body, True, self.redirects())
        if keyword in ("case", "function"):
            raise ScriptError(f"{keyword}: not understood by the simulated cluster's shell")
        if keyword in ("do", "done", "then", "elif", "else", "fi", "}", "esac"):
            raise ScriptError(f'syntax error: unexpected "{keyword}"')
        return self.simple()

    def redirects(self) -> list[Redirect]:
        found = []
        while (token := self.peek()) is not None and token.kind == "redirect":
            found.append(self.redirect())
        return found

    def redirect(self) -> Redirect:
        token = self.next()
        if "&" in token.op:
            _op, _, target = token.op.partition("&")
            if target.isdigit():
                return Redirect(token.fd, None, dup=int(target))
            raise ScriptError("syntax error: bad fd number")
        target = self.next()
        if target.kind != "word" or target.word is None:
            raise ScriptError(f"syntax error: unexpected {_shown(target)}")
        return Redirect(token.fd, target.word, append=token.op == ">>")

    def simple(self) -> Simple:
        command = Simple()
        while (token := self.peek()) is not None:
            if token.kind == "redirect":
                command.redirects.append(self.redirect())
                continue
            if token.kind != "word" or token.word is None:
                break
            literal = _assignment(token.word)
            if literal is not None and not command.words:
                command.assignments.append(literal)
            else:
                command.words.append(token.word)
            self.at += 1
        if not command.words and not command.assignments and not command.redirects:
            token = self.peek()
            raise ScriptError(
                f"syntax error: unexpected {'end of file' if token is None else _shown(token)}"
            )
        return command


def _assignment(word: Word) -> tuple[str, Word] | None:
    first = word.parts[0] if word.parts else None
    if first is None or first.kind != "lit" or first.quoted or "=" not in first.text:
        return None
    name, _, value = first.text.partition("=")
    if not name or not (name[0].isalpha() or name[0] == "_"):
        return None
    if not all(char.isalnum() or char == "_" for char in name):
        return None
    rest = (Part("lit", value),) if value else ()
    return name, Word(rest + word.parts[1:])


def _shown(token: _Token) -> str:
    if token.kind == "newline":
        return "newline"
    if token.kind == "word" and token.word is not None:
        return f'word "{"".join(p.text for p in token.word.parts)}"'
    return f'"{token.op}"'


def parse(text: str) -> Sequence:
    """The script as a list of commands; raises `ScriptError` as ``sh`` would complain."""
    parser = _Parser(_tokens(text))
    sequence = parser.sequence()
    token = parser.peek()
    if token is not None:
        raise ScriptError(f"syntax error: unexpected {_shown(token)}")
    return sequence
