"""Coupon codes: alphabet, check character (one wrong or two swapped characters caught), pool CSV."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from bot.domains.coupons.codes import ALPHABET, CODE_LENGTH, check_char, new_code, read_code_pool, validate_code

bodies = st.text(alphabet=ALPHABET, min_size=CODE_LENGTH - 1, max_size=CODE_LENGTH - 1)


def test_alphabet_has_no_ambiguous_characters() -> None:
    assert not set("01OIL") & set(ALPHABET)
    assert len(set(ALPHABET)) == len(ALPHABET) == 31


def test_new_codes_are_valid_and_prefixed() -> None:
    codes = {new_code("D11-") for _ in range(2000)}
    assert len(codes) == 2000
    for code in codes:
        assert code.startswith("D11-") and len(code) == 4 + CODE_LENGTH
        assert validate_code(code) and validate_code(code, "D11-")
        assert set(code[4:]) <= set(ALPHABET)
    assert not validate_code(next(iter(codes)), "X-")
    assert validate_code(" " + next(iter(codes)).lower() + " ")  # what a customer types


@given(bodies, st.integers(0, CODE_LENGTH - 1), st.sampled_from(ALPHABET))
def test_one_wrong_character_is_caught(body: str, position: int, replacement: str) -> None:
    code = body + check_char(body)
    assert validate_code(code)
    wrong = code[:position] + replacement + code[position + 1 :]
    assert validate_code(wrong) == (wrong == code)


@given(bodies, st.integers(0, CODE_LENGTH - 1), st.integers(0, CODE_LENGTH - 1))
def test_two_swapped_characters_are_caught(body: str, i: int, j: int) -> None:
    code = list(body + check_char(body))
    code[i], code[j] = code[j], code[i]
    swapped = "".join(code)
    assert validate_code(swapped) == (swapped == body + check_char(body))


def test_malformed_codes_are_invalid() -> None:
    assert not validate_code("")
    assert not validate_code("ABC")
    assert not validate_code("0" * CODE_LENGTH)


def test_pool_csv_plain_and_with_header(tmp_path: Path) -> None:
    plain = tmp_path / "pool.txt"
    plain.write_text("SHOP-AAA1\nshop-aaa2\n\nbad code!\nSHOP-AAA1\n", encoding="utf-8")
    codes, problems = read_code_pool(plain)
    assert codes == ["SHOP-AAA1", "SHOP-AAA2"]
    assert [(p.line, "repeats" in p.message) for p in problems] == [(4, False), (5, True)]
    headed = tmp_path / "pool.csv"
    headed.write_text("id,code\n1,ZX-100\n2,\n3,ZX-101\n", encoding="utf-8")
    codes, problems = read_code_pool(headed)
    assert codes == ["ZX-100", "ZX-101"]
    assert [p.line for p in problems] == [3]
    missing, problems = read_code_pool(tmp_path / "nope.csv")
    assert missing == [] and problems[0].line is None
