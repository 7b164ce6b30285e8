#!/usr/bin/env python3
"""How well the answerer answers customers' questions from the shop's own data, on a labelled set.

The set (tests/data/answers/questions.jsonl, one JSON object a line): the question `text`, its `language`
(en/zh), `split` (dev: the part the answerer was tuned on; test: the part it was not), `expect` (answer |
handover:not_sold | handover:which | handover:no_data | none), `answerable` (the shipped config.yaml and data
hold the answer), for answerable ones the `topic` and key `facts` (product, price that applies at the time, in
stock or not, sale and whether it runs), and optionally `now` (default: 2026-11-05 14:00 Asia/Shanghai, during
the Double 11 sale). The answerer runs against the shipped config.yaml and data/ (or --config), with the
language the classifier would detect (bot.adapters.sentiment.detect_language; anything but zh is answered in
English).

An answer is correct when the question is answerable, the topic is the expected one, the answer is in the
customer's language, and every labelled fact matches (product, price, in stock, sale and whether it runs).
precision = correct answers / answers; coverage = answerable questions answered / answerable questions. Handed
over and not-handled questions are listed by kind (was the reason the expected one).

Last line: RESULT questions=N precision=P coverage=C (the test part) dev_questions=... dev_precision=...
dev_coverage=... (the dev part, tuned on). Misses are printed for the dev part only (--show-test-misses for the
test part, once the answerer is frozen).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.adapters.sentiment import detect_language  # noqa: E402
from bot.domains.conversations.answers import Answer, Answerer, Knowledge  # noqa: E402
from bot.settings.config import load_config  # noqa: E402

DEFAULT_NOW = "2026-11-05T14:00:00+08:00"
HANDOVER_KINDS = {"handover:not_sold": "not_sold", "handover:which": "which_product", "handover:no_data": "no_data"}


@dataclass(frozen=True)
class Scored:
    item: dict[str, Any]
    answer: Answer
    language: str
    correct: bool
    why: str  # for a miss: what was wrong

    @property
    def answerable(self) -> bool:
        return bool(self.item["answerable"])


def load_set(path: Path) -> list[dict[str, Any]]:
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SystemExit(f"{path}:{number}: not JSON: {exc}") from exc
        for key in ("id", "split", "language", "text", "expect", "answerable"):
            if key not in item:
                raise SystemExit(f"{path}:{number}: missing {key!r}")
        if item["answerable"] and "topic" not in item:
            raise SystemExit(f"{path}:{number}: an answerable question needs its 'topic'")
        items.append(item)
    return items


def check(item: dict[str, Any], answer: Answer, language: str) -> tuple[bool, str]:
    expect = item["expect"]
    if not answer.answered:
        if expect in HANDOVER_KINDS:
            ok = answer.handed_over and answer.handover == HANDOVER_KINDS[expect]
            return False, "" if ok else f"expected {expect}, got {answer.outcome}:{answer.handover}"
        if expect == "none":
            return False, "" if answer.outcome == "not_handled" else f"expected none, got handover:{answer.handover}"
        return False, f"not answered ({answer.outcome}:{answer.handover})"
    if not item["answerable"]:
        return False, f"answered a question expected {expect} as {answer.topic}: {answer.text}"
    if answer.topic != item["topic"]:
        return False, f"topic {answer.topic}, expected {item['topic']}: {answer.text}"
    if answer.language != item["language"]:
        return False, f"answered in {answer.language}, expected {item['language']}"
    facts = item.get("facts", {})
    got = answer.facts
    for key, wanted in facts.items():
        value = got.get(key)
        same = abs(float(value) - float(wanted)) < 0.005 if key == "price" and value is not None else value == wanted
        if not same:
            return False, f"{key}={value!r}, expected {wanted!r}: {answer.text}"
    return True, ""


def run(items: list[dict[str, Any]], answerer: Answerer) -> list[Scored]:
    scored = []
    for item in items:
        now = datetime.fromisoformat(item.get("now") or DEFAULT_NOW)
        language = detect_language(item["text"])
        language = "zh" if language == "zh" else "en"
        answer = answerer.answer(item["text"], language, now)
        correct, why = check(item, answer, language)
        scored.append(Scored(item, answer, language, correct, why))
    return scored


def figures(scored: list[Scored]) -> dict[str, float]:
    answered = [s for s in scored if s.answer.answered]
    correct = sum(s.correct for s in answered)
    answerable = [s for s in scored if s.answerable]
    covered = sum(1 for s in answerable if s.answer.answered)
    return {
        "questions": len(scored),
        "answerable": len(answerable),
        "answered": len(answered),
        "correct": correct,
        "precision": correct / len(answered) if answered else 1.0,
        "coverage": covered / len(answerable) if answerable else 0.0,
        "correct_coverage": correct / len(answerable) if answerable else 0.0,
    }


def table(title: str, scored: list[Scored]) -> None:
    print(f"\n{title}")
    print(f"  {'topic / expected':<22}{'lang':<6}{'n':>5}{'answered':>10}{'correct':>9}{'as expected':>13}")
    groups: dict[tuple[str, str], list[Scored]] = defaultdict(list)
    for s in scored:
        key = s.item["topic"] if s.answerable else s.item["expect"]
        groups[(key, s.item["language"])].append(s)
    for (key, language), members in sorted(groups.items()):
        answered = sum(s.answer.answered for s in members)
        correct = sum(s.correct for s in members)
        expected = sum(s.correct or (not s.answerable and not s.why) for s in members)
        print(f"  {key:<22}{language:<6}{len(members):>5}{answered:>10}{correct:>9}{expected:>13}")
    for language in ("en", "zh"):
        part = [s for s in scored if s.item["language"] == language]
        if part:
            f = figures(part)
            print(
                f"  {'all':<22}{language:<6}{f['questions']:>5}{f['answered']:>10}{f['correct']:>9}"
                f"   precision {f['precision']:.3f}, coverage {f['coverage']:.3f}"
            )
    outcomes = Counter(
        (s.item["expect"], s.answer.outcome + (f":{s.answer.handover}" if s.answer.handover else ""))
        for s in scored
        if not s.answerable
    )
    print(
        "  not answerable, expected -> got: " + ", ".join(f"{e} -> {g}: {n}" for (e, g), n in sorted(outcomes.items()))
    )


def misses(title: str, scored: list[Scored]) -> None:
    wrong = [s for s in scored if s.why]
    print(f"\n{title}: {len(wrong)}")
    for s in wrong:
        print(f"  {s.item['id']} [{s.item['language']}] {s.item['text']!r}: {s.why}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", type=Path, default=ROOT / "tests" / "data" / "answers" / "questions.jsonl")
    parser.add_argument("--config", type=Path, default=ROOT / "config.yaml")
    parser.add_argument("--quiet", action="store_true", help="no tables, no misses: the RESULT line")
    parser.add_argument("--show-test-misses", action="store_true", help="also list the test part's misses")
    parser.add_argument("--dev-only", action="store_true", help="while tuning: nothing about the test part")
    args = parser.parse_args(argv)

    settings = load_config(args.config, require_credentials=False, environ={})
    knowledge = Knowledge.from_settings(settings)
    answerer = Answerer(knowledge)
    items = load_set(args.set)
    scored = run(items, answerer)
    parts = {split: [s for s in scored if s.item["split"] == split] for split in ("dev", "test")}
    print(
        f"{len(items)} questions ({len(parts['dev'])} dev, {len(parts['test'])} test) against {args.config}: "
        f"{len(knowledge.products)} products, {len(knowledge.sales)} sale(s), {len(knowledge.faq)} faq entries"
    )
    mislabelled = sum(1 for s in scored if s.language != s.item["language"])
    if mislabelled:
        print(f"{mislabelled} question(s) whose detected language is not the labelled one")
    if not args.quiet:
        table("dev part (tuned on)", parts["dev"])
        if not args.dev_only:
            table("test part (not tuned on)", parts["test"])
        misses("dev misses", parts["dev"])
        if args.show_test_misses:
            misses("test misses", parts["test"])
    dev, test = figures(parts["dev"]), figures(parts["test"])
    if args.dev_only:
        print(f"DEV precision={dev['precision']:.3f} coverage={dev['coverage']:.3f} (test part not shown)")
        return 0
    for name, f in (("dev", dev), ("test", test)):
        print(
            f"{name}: {f['questions']} questions, {f['answerable']} answerable, {f['answered']} answered, "
            f"{f['correct']} correct: precision {f['precision']:.3f}, coverage {f['coverage']:.3f} "
            f"(correct answers / answerable: {f['correct_coverage']:.3f})"
        )
    print(
        f"RESULT questions={test['questions']} precision={test['precision']:.3f} coverage={test['coverage']:.3f} "
        f"dev_questions={dev['questions']} dev_precision={dev['precision']:.3f} dev_coverage={dev['coverage']:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
