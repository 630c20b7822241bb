"""Label selectors: kubectl syntax in, Kubernetes matching semantics and canonical text out."""

from __future__ import annotations

import pytest

from labs.checks.selectors import (
    Operator,
    Requirement,
    Selector,
    SelectorError,
    is_dns_subdomain,
    parse_selector,
)


@pytest.mark.parametrize(
    ("text", "requirement"),
    [
        ("app=web", Requirement("app", Operator.EQUALS, ("web",))),
        ("app==web", Requirement("app", Operator.EQUALS, ("web",))),
        ("app!=web", Requirement("app", Operator.NOT_EQUALS, ("web",))),
        ("env in (prod,dev)", Requirement("env", Operator.IN, ("dev", "prod"))),
        ("env notin (prod)", Requirement("env", Operator.NOT_IN, ("prod",))),
        ("canary", Requirement("canary", Operator.EXISTS)),
        ("!canary", Requirement("canary", Operator.DOES_NOT_EXIST)),
        ("app=", Requirement("app", Operator.EQUALS, ("",))),
        ("app!=", Requirement("app", Operator.NOT_EQUALS, ("",))),
        ("env in (a,a,b)", Requirement("env", Operator.IN, ("a", "b"))),
        ("env in (a,)", Requirement("env", Operator.IN, ("", "a"))),
        ("env in (,a)", Requirement("env", Operator.IN, ("", "a"))),
        ("env in (a,,b)", Requirement("env", Operator.IN, ("", "a", "b"))),
        # In value position kubectl reads its keywords as plain words.
        ("op=in", Requirement("op", Operator.EQUALS, ("in",))),
        ("op in (notin)", Requirement("op", Operator.IN, ("notin",))),
        ("example.com/tier=db", Requirement("example.com/tier", Operator.EQUALS, ("db",))),
        ("app.kubernetes.io/name", Requirement("app.kubernetes.io/name", Operator.EXISTS)),
    ],
)
def test_it_parses_every_operator(text: str, requirement: Requirement) -> None:
    assert parse_selector(text) == Selector((requirement,))


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("app=web", "app=web"),
        ("app==web", "app=web"),
        ("app!=web", "app!=web"),
        ("env in (prod,dev)", "env in (dev,prod)"),
        ("env notin (b,a)", "env notin (a,b)"),
        ("canary", "canary"),
        ("!canary", "!canary"),
        ("app=", "app="),
        ("env in (a,)", "env in (,a)"),
        ("tier!=db,app=web", "app=web,tier!=db"),
        (
            "  app = web ,  tier  notin(db , cache)  ,  ! canary ",
            "app=web,!canary,tier notin (cache,db)",
        ),
        ("app\t==\tweb", "app=web"),
        # "a!=" has the empty value, so the comma starts the next requirement.
        ("b,a!=", "a!=,b"),
    ],
)
def test_it_prints_the_canonical_kubectl_form(text: str, canonical: str) -> None:
    assert str(parse_selector(text)) == canonical


@pytest.mark.parametrize(
    "text",
    ["app=web,tier!=db", "env in (a,b),!canary", "b,a=1,a!=2", "x in (,y)", "k="],
)
def test_it_parses_its_own_output_back_to_the_same_selector(text: str) -> None:
    selector = parse_selector(text)
    assert parse_selector(str(selector)) == selector


def test_it_sorts_requirements_by_key_keeping_their_order_otherwise() -> None:
    selector = parse_selector("b=1,a!=2,a=3")
    assert [str(requirement) for requirement in selector.requirements] == ["a!=2", "a=3", "b=1"]


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("app=web", {"app": "web"}, True),
        ("app=web", {"app": "db"}, False),
        ("app=web", {}, False),
        ("app==web", {"app": "web", "tier": "x"}, True),
        ("app!=web", {"app": "web"}, False),
        ("app!=web", {"app": "db"}, True),
        # Like Kubernetes: a negative requirement holds for an object without the key.
        ("app!=web", {}, True),
        ("env in (a,b)", {"env": "a"}, True),
        ("env in (a,b)", {"env": "b"}, True),
        ("env in (a,b)", {"env": "c"}, False),
        ("env in (a,b)", {}, False),
        ("env notin (a,b)", {"env": "a"}, False),
        ("env notin (a,b)", {"env": "c"}, True),
        ("env notin (a,b)", {}, True),
        ("canary", {"canary": ""}, True),
        ("canary", {"canary": "yes"}, True),
        ("canary", {"other": "yes"}, False),
        ("!canary", {}, True),
        ("!canary", {"canary": ""}, False),
        ("app=", {"app": ""}, True),
        ("app=", {}, False),
        ("app=", {"app": "web"}, False),
        ("env in (,a)", {"env": ""}, True),
        ("app=web,tier!=db", {"app": "web"}, True),
        ("app=web,tier!=db", {"app": "web", "tier": "db"}, False),
        ("app=web,tier!=db", {"tier": "cache"}, False),
        ("App=web", {"app": "web"}, False),
    ],
)
def test_it_matches_like_kubernetes(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_selector(text).matches(labels) is expected


@pytest.mark.parametrize(
    "key",
    [
        "a",
        "a" * 63,
        "A.b-c_9",
        "example.com/" + "a" * 63,
        "a" * 253 + "/name",
        "sub.example-1.com/x",
    ],
)
def test_it_accepts_valid_keys(key: str) -> None:
    assert str(parse_selector(f"{key}=v")) == f"{key}=v"


@pytest.mark.parametrize("value", ["", "v", "a" * 63, "1.2_3-x", "A"])
def test_it_accepts_valid_values(value: str) -> None:
    assert parse_selector(f"k={value}").requirements[0].values == (value,)


NAME_RULE = "1-63 characters of [A-Za-z0-9._-], starting and ending with a letter or digit"
VALUE_RULE = "at most 63 characters of [A-Za-z0-9._-], starting and ending with a letter or digit"
PREFIX_RULE = (
    'a DNS subdomain: at most 253 lower-case letters, digits, "-" and ".", '
    "starting and ending with a letter or digit"
)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty; a check must select something, like app=web"),
        ("   ", "empty; a check must select something, like app=web"),
        ("app in (a", 'missing ")"'),
        ("app in (a,", 'missing ")"'),
        ("app in a", 'expected "(" after "app in", found "a"'),
        ("app notin", 'expected "(" after "app notin", found the end'),
        ("app in ()", '"app in ()" needs at least one value'),
        ("app in (a b)", 'expected "," or ")" in the values of "app", found "b"'),
        ("app in (=)", 'expected a value in the values of "app", found "="'),
        ("app=web,", 'expected a label key after ",", found the end'),
        (",app=web", 'expected a label key, found ","'),
        ("app=web,,x", 'expected a label key after ",", found ","'),
        ("ap p=1", 'expected an operator (=, ==, !=, in or notin) or "," after "ap", found "p"'),
        ("a>5", 'operator ">" is not supported; use =, ==, !=, in or notin'),
        ("a<5", 'operator "<" is not supported; use =, ==, !=, in or notin'),
        ("a=b=c", 'expected "," or the end after "a=b", found "="'),
        ("a=(b)", 'expected a value after "a=", found "("'),
        ("!", 'expected a label key after "!", found the end'),
        ("!a=b", 'expected "," or the end after "!a", found "="'),
        ("in=x", 'expected a label key, found keyword "in"'),
        ("a,!notin", 'expected a label key after "!", found keyword "notin"'),
        ("-app=web", f'key "-app" is not a valid label key: name "-app" must be {NAME_RULE}'),
        ("app_=web", f'key "app_" is not a valid label key: name "app_" must be {NAME_RULE}'),
        (
            "a" * 64 + "=x",
            f'key "{"a" * 64}" is not a valid label key: name "{"a" * 64}" must be {NAME_RULE}',
        ),
        ("/app=web", 'key "/app" is not a valid label key: the prefix before "/" is empty'),
        ("a/b/c=d", 'key "a/b/c" is not a valid label key: more than one "/"'),
        (
            "Example.com/app=web",
            'key "Example.com/app" is not a valid label key: '
            f'prefix "Example.com" must be {PREFIX_RULE}',
        ),
        (
            "a" * 254 + "/app",
            f'key "{"a" * 254}/app" is not a valid label key: '
            f'prefix "{"a" * 254}" must be {PREFIX_RULE}',
        ),
        (
            "example.com/=x",
            f'key "example.com/" is not a valid label key: name "" must be {NAME_RULE}',
        ),
        ("app=-web", f'value "-web" of "app" is not a valid label value: {VALUE_RULE}'),
        ("app=web.", f'value "web." of "app" is not a valid label value: {VALUE_RULE}'),
        ("app=a/b", f'value "a/b" of "app" is not a valid label value: {VALUE_RULE}'),
        (
            "app=" + "v" * 64,
            f'value "{"v" * 64}" of "app" is not a valid label value: {VALUE_RULE}',
        ),
        ("env in (a,-b)", f'value "-b" of "env" is not a valid label value: {VALUE_RULE}'),
    ],
)
def test_it_names_what_is_wrong_with_a_bad_selector(text: str, reason: str) -> None:
    with pytest.raises(SelectorError) as error:
        parse_selector(text)
    assert str(error.value) == f'bad label selector "{text}": {reason}'


def test_it_raises_a_value_error() -> None:
    with pytest.raises(ValueError, match=r'^bad label selector "app in \(a": missing "\)"$'):
        parse_selector("app in (a")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my-pod", True),
        ("web.v1", True),
        ("a", True),
        ("0abc", True),
        ("a" * 253, True),
        ("a" * 254, False),
        ("My-Pod", False),
        ("my_pod", False),
        ("-pod", False),
        ("pod-", False),
        ("a..b", False),
        ("", False),
    ],
)
def test_it_knows_a_dns_subdomain(text: str, expected: bool) -> None:
    assert is_dns_subdomain(text) is expected
