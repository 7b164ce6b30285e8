"""The simulated audience's text bank: intent templates (English and Chinese), chatter, odd and hostile texts, names.

Templates are plain `str.format` strings with `{product}` and `{order}`; they never contain the shop handle, the
caller adds "@<shop>" where the text must summon the shop.
"""

from __future__ import annotations

INTENTS: tuple[str, ...] = ("question", "complaint", "coupon_request", "praise", "opt_out", "other")

# (English name, Chinese name, typical price)
PRODUCTS: tuple[tuple[str, str, float], ...] = (
    ("Hinoki bath set", "桧木浴室套装", 299.0),
    ("Aki table lamp", "秋 陶瓷台灯", 359.0),
    ("Kumo duvet cover", "云 亚麻被套", 499.0),
    ("Sora side table", "空 橡木边几", 699.0),
    ("Haru bath towels", "春 棉浴巾", 189.0),
    ("Yuki candle", "雪 香薰蜡烛", 79.0),
    ("Tsuki pendant light", "月 藤编吊灯", 349.0),
    ("Kaze doormat", "风 羊毛地垫", 149.0),
    ("Mori tea set", "森 茶具套装", 259.0),
    ("Umi linen napkins", "海 亚麻餐巾", 99.0),
)

TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "question": {
        "en": (
            "is the {product} back in stock?",
            "when will order {order} ship?",
            "do you ship the {product} to Canada?",
            "what are the dimensions of the {product}?",
            "can I still change the address on order {order}?",
            "is the {product} machine washable?",
            "how long does delivery usually take?",
            "does the {product} come in grey?",
            "where can I track order {order}?",
            "do you have a store in Shanghai where I can see the {product}?",
            "is there a warranty on the {product}?",
            "hi! which size {product} would fit a queen bed?",
        ),
        "zh": (
            "{product}还有货吗？",
            "订单{order}什么时候发货？",
            "{product}可以寄到香港吗？",
            "请问{product}的尺寸是多少？",
            "{product}有灰色的吗？",
            "请问怎么查物流？订单号{order}",
        ),
    },
    "complaint": {
        "en": (
            "my {product} arrived broken, I want a refund",
            "order {order} is two weeks late. This is terrible service",
            "the {product} looks nothing like the photos, very disappointed",
            "still waiting for a reply about order {order}, worst support ever",
            "you charged me twice for order {order}!!",
            "the {product} stopped working after 3 days. awful quality",
            "wrong item delivered for order {order}, I ordered the {product}",
            "the {product} smells of chemicals, I'm returning it",
            "nobody answers your support email. unacceptable",
            "package {order} was left in the rain and the {product} is ruined",
            "your courier lost my {product}. I want my money back",
        ),
        "zh": (
            "订单{order}还没到，太慢了",
            "收到的{product}是坏的，我要退款",
            "{product}质量太差了，用了三天就坏了",
            "客服一直不回复，非常失望",
            "发错货了！我买的是{product}",
            "订单{order}被重复扣款了，请尽快处理",
        ),
    },
    "coupon_request": {
        "en": (
            "any discount code for the {product}?",
            "do you have a coupon for first-time buyers?",
            "is there a promo code this week?",
            "can I get a discount if I buy two {product}s?",
            "any coupon for Double 11?",
            "I'd buy the {product} today with a discount code 🙏",
            "student discount available?",
            "please send me a coupon, the {product} is in my cart",
            "got a voucher for loyal customers?",
            "any free shipping code?",
        ),
        "zh": (
            "有优惠券吗？",
            "{product}有折扣码吗？",
            "双十一有什么优惠？",
            "新用户有没有优惠码？",
            "求一张优惠券，{product}已经在购物车里了",
            "买两件{product}能便宜点吗？",
        ),
    },
    "praise": {
        "en": (
            "love my new {product}, thank you!",
            "the {product} is even better in person ❤️",
            "fast delivery and beautiful packaging, great job",
            "best {product} I've ever owned",
            "thanks for the quick help with order {order}, amazing support",
            "obsessed with the {product} 😍",
            "my second {product} from you, still perfect",
            "wonderful quality, highly recommend the {product}",
            "the {product} made my flat so cozy, thank you",
            "great service as always!",
            "just unboxed the {product}. gorgeous!",
        ),
        "zh": (
            "{product}太好看了，谢谢！",
            "发货很快，包装很精美，好评",
            "第二次买{product}了，质量一如既往的好",
            "非常喜欢{product}，推荐！",
            "客服很耐心，谢谢你们",
            "超爱这个{product}😍",
        ),
    },
    "opt_out": {
        "en": (
            "stop",
            "STOP",
            "Stop",
            "unsubscribe please",
            "unsubscribe",
            "please stop messaging me",
            "stop sending me these",
            "STOP. no more messages",
            "opt out",
            "please unsubscribe me",
        ),
        "zh": (
            "退订",
            "请退订",
            "退订，谢谢",
            "不要再给我发消息了，退订",
            "TD退订",
        ),
    },
    "other": {
        "en": (
            "hello",
            "what's your favourite colour?",
            "just saw your shop on a blog",
            "good morning from Berlin",
            "happy friday everyone",
            "who runs this account?",
            "did you see the match last night?",
            "my cat sat on the {product} in your ad lol",
            "testing testing 123",
            "are you a bot?",
        ),
        "zh": (
            "你好",
            "今天天气不错",
            "在吗",
            "周末愉快",
            "你们是哪个城市的？",
        ),
    },
}

# Chatter between audience members: no shop, no intent.
CHATTER: dict[str, tuple[str, ...]] = {
    "en": (
        "so true",
        "agreed!",
        "haha same",
        "this is the way",
        "where did you get that?",
        "love this",
        "interesting take",
        "following for updates",
        "nice photo",
        "can confirm",
        "thanks for sharing",
        "wait what",
    ),
    "zh": (
        "同意",
        "哈哈哈哈",
        "真的吗",
        "好看！",
        "在哪里买的？",
        "学到了",
        "说得对",
        "收藏了",
    ),
}

# Posts audience members write on their own (reply and quote material).
POSTS: dict[str, tuple[str, ...]] = {
    "en": (
        "redid my living room this weekend, photos soon",
        "hot take: linen beats cotton",
        "small apartment ideas thread 🧵",
        "my morning routine: tea, candle, quiet",
        "anyone else obsessed with Japanese interiors?",
        "unboxing haul from this month",
        "minimalism is hard with two kids",
        "found the perfect reading lamp finally",
    ),
    "zh": (
        "周末把客厅重新布置了一下",
        "分享一下我的小户型改造",
        "日式家居真的太治愈了",
        "这个月的购物分享",
        "终于找到了满意的台灯",
    ),
}

ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"

# Odd or hostile mention bodies: (text after "@<shop> ", language, ground-truth intent).
# "{shop}" inside a body is replaced by the shop handle (for texts that mention it again or differently).
ODD: tuple[tuple[str, str, str], ...] = (
    ("", "und", "other"),  # nothing after the handle
    ("🎉" * 280, "und", "other"),  # 280 emoji (560 weighted characters: longer than X allows)
    ("😀🙂😍🔥👍" * 27, "und", "other"),  # as many emoji as fit in a tweet
    ("مرحبا، أين طلبي؟ لم يصل بعد", "ar", "other"),  # RTL Arabic
    ("שלום, מתי ההזמנה שלי תגיע?", "he", "other"),  # RTL Hebrew
    ("\u202eredro ym si erehw", "und", "other"),  # right-to-left override
    ("{{7*7}}", "und", "other"),
    ("{% raw %}{{ config }}{% endraw %}", "und", "other"),
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "und", "other"),
    ("{% for x in range(999999999) %}x{% endfor %}", "und", "other"),
    ("${7*7} #{7*7} %s %d {0} {product}", "und", "other"),
    ("h\u200be\u200bl\u200cl\u200do\u2060 there\ufeff", "en", "other"),
    ("'; DROP TABLE mentions; --", "und", "other"),
    ("Robert'); DROP TABLE users;-- is my name", "en", "other"),
    ("<script>alert('x')</script>", "und", "other"),
    ("line one\nline two\r\n\tindented", "en", "other"),
    ("Z̸̡̛̖a̵̢͎̓l̶̛͎g̵̣̈́o̶̜͝ ̵̡̈t̸͈̆e̸͇͝x̵̰̾t̷͚̂", "und", "other"),
    ("@{shop} @{shop} @{shop}", "und", "other"),
    ("ＳＴＯＰ", "en", "opt_out"),  # fullwidth letters
    ("退订！！！", "zh", "opt_out"),
    ("hey @everyone and @here check this out", "en", "other"),
    ("https://example.com/" + "a" * 300, "und", "other"),
    ("#sale #coupon #deal #双十一", "und", "other"),
)

# (English given name, Chinese given name) pools and surnames for real-ish usernames and display names.
GIVEN_EN: tuple[str, ...] = (
    "mia", "liam", "emma", "noah", "olivia", "lucas", "ava", "leo", "sofia", "ethan", "chloe", "jack", "zoe",
    "ryan", "lily", "max", "nora", "sam", "grace", "ben", "ella", "tom", "ruby", "adam", "isla", "dan", "amy",
    "kate", "omar", "lea", "nina", "hugo", "ivy", "finn", "maya", "jonas", "sara", "alex", "eva", "theo",
)  # fmt: skip
SURNAMES_EN: tuple[str, ...] = (
    "smith", "jones", "brown", "miller", "davis", "garcia", "wilson", "taylor", "moore", "martin", "lee",
    "walker", "hall", "young", "king", "wright", "lopez", "hill", "green", "baker", "müller", "rossi", "silva",
)  # fmt: skip
PINYIN_SURNAMES: tuple[tuple[str, str], ...] = (
    ("chen", "陈"), ("wang", "王"), ("li", "李"), ("zhang", "张"), ("liu", "刘"), ("yang", "杨"), ("huang", "黄"),
    ("zhao", "赵"), ("wu", "吴"), ("zhou", "周"), ("xu", "徐"), ("sun", "孙"), ("ma", "马"), ("hu", "胡"),
    ("guo", "郭"), ("lin", "林"), ("he", "何"), ("gao", "高"), ("luo", "罗"), ("zheng", "郑"),
)  # fmt: skip
PINYIN_GIVEN: tuple[tuple[str, str], ...] = (
    ("wei", "伟"), ("fang", "芳"), ("na", "娜"), ("min", "敏"), ("jing", "静"), ("lei", "磊"), ("yan", "燕"),
    ("jie", "杰"), ("tao", "涛"), ("ming", "明"), ("xin", "欣"), ("yu", "宇"), ("hao", "浩"), ("ting", "婷"),
    ("mei", "美"), ("hui", "慧"), ("jun", "俊"), ("xiao", "晓"), ("yun", "云"), ("qing", "青"),
)  # fmt: skip

# One user with a hostile display name and an SQL-looking handle (handles are [A-Za-z0-9_]{1,15}).
SQL_USER: tuple[str, str] = ("drop_table_usrs", "Robert'); DROP TABLE users;--")
