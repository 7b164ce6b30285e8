"""The words the answerer knows besides the shop's own data: which words ask for which fact, which questions the
data cannot answer, the kinds of home goods a shop might not sell, and what chit-chat looks like.

English phrases are matched on whole (typo-corrected) words; a word may carry a plural or verb ending ("colour"
matches "colours"). `...` in a phrase stands for up to six words ("how much ... hold"). Chinese phrases are
matched as substrings of the text with its spaces removed. When two matches overlap, the longer one counts.
"""

from __future__ import annotations


def _phrases(text: str) -> tuple[str, ...]:
    """Phrases written one after another, separated by `|`."""
    return tuple(part.strip() for part in text.split("|") if part.strip())


# the fact a question asks about a product -> phrases
PRODUCT_CUES: dict[str, dict[str, tuple[str, ...]]] = {
    "price": {
        "en": _phrases(
            "how much | price | pricing | cost | costs | expensive | go for | how much would | what's the price"
        ),
        "zh": _phrases("多少钱 | 价格 | 价钱 | 什么价 | 几块 | 多少米 | 售价 | 怎么卖 | 多钱 | 到手价 | 啥价"),
    },
    "stock": {
        "en": _phrases(
            "in stock | stock | sold out | available | availability | left | still have | do you have | got any | "
            "still order | do you sell | do you carry | sell"
        ),
        "zh": _phrases(
            "有货 | 现货 | 库存 | 卖完 | 缺货 | 还有吗 | 还有货 | 售罄 | 断货 | 有没有货 | 有卖 | 卖吗 | 还有么"
        ),
    },
    "size": {
        "en": _phrases(
            "size | sizes | sized | dimension | dimensions | how big | how tall | how wide | how high | how long is | "
            "how large | measurement | measurements | measure | how much ... hold | capacity | how many litres"
        ),
        "zh": _phrases("尺寸 | 多大 | 大小 | 多高 | 多长 | 多宽 | 容量 | 规格 | 尺码 | 几升 | 长宽"),
    },
    "material": {
        "en": _phrases(
            "made of | made from | material | materials | fabric | what kind of wax | what wax | what wood | which "
            "wood | kind of wood | real wool | real ceramic | real wood | solid wood | what's it made"
        ),
        "zh": _phrases("材质 | 材料 | 面料 | 什么做的 | 什么木 | 什么蜡 | 实木吗 | 什么料 | 啥材质 | 做的吗"),
    },
    "colour": {
        "en": _phrases("colour | color | colours | colors | what shade | which shade"),
        "zh": _phrases("颜色 | 什么色 | 几种色 | 配色 | 色号"),
    },
    "link": {
        "en": _phrases(
            "link | where can i buy | where do i order | where to buy | where can i order | url | buy it online | "
            "where can i get"
        ),
        "zh": _phrases("链接 | 哪里买 | 在哪买 | 哪买 | 怎么买 | 在哪里买 | 购买地址"),
    },
}

# words that ask about a sale
SALE_CUES = {
    "en": _phrases(
        "sale | sales | discount | discounts | promotion | promotions | promo | deal | deals | double 11 | double "
        "eleven | singles day | singles' day | 11.11 | on offer | offers | anything on sale"
    ),
    "zh": _phrases("活动 | 优惠 | 打折 | 折扣 | 促销 | 双十一 | 双11 | 满减 | 大促 | 光棍节"),
}

# words that make a question about a sale a question about its dates (it outranks the FAQ then)
SALE_TIMING = {
    "en": _phrases("start | starts | begin | end | ends | last | still on | until | when | live | over"),
    "zh": _phrases("开始 | 结束 | 几号 | 到几号 | 什么时候 | 还在 | 多久 | 从几号"),
}

# questions the shop's data cannot answer even when they name a product or a topic it knows (handed over)
NO_DATA_CUES = {
    "en": _phrases(
        "where is my order | my order number | order # | tracking number | track my | my parcel | my package | change "
        "the delivery address | change my address | change the address | cancel my order | cancel an order | cancel "
        "the order | back in stock | restock | restocked | student | students | loyalty | membership | member price | "
        "points | wholesale | bulk order | black friday | cyber monday | christmas sale | two coupons | coupon code | "
        "coupons | hiring | job | jobs | cash on delivery | dimmable | bulb | vegan | pet safe | weight can | hold up "
        "| how much weight | not here | never came"
    ),
    "zh": _phrases(
        "我的订单 | 订单号 | 订单到哪 | 物流信息 | 查物流 | 快递单号 | 改地址 | 改收货地址 | 修改地址 "
        "| 取消订单 | 补货 | 学生 | 会员 | 积分 | 批发 | 黑五 | 618 | 圣诞 | 优惠券 | 招人 "
        "| 招聘 | 货到付款 | 调光 | 灯泡 | 宠物 | 承重 | 放冰箱 | 洗碗机"
    ),
}

# kinds of home goods (and near-misses of our own) that no product of the shop is unless its data says so
UNSOLD = {
    "en": _phrases(
        "sofa | sofas | couch | rug | rugs | carpet | mug | mugs | cup | cups | pillow | pillows | cushion | cushions "
        "| curtain | curtains | vase | vases | teapot | teapots | sheets | bed sheets | bedsheet | dining table | "
        "coffee table | desk | chair | chairs | stool set | floor lamp | bath mat | bathrobe | robe | tumbler | "
        "tumblers | glasses | plate | plates | bowl | bowls | mirror | wardrobe | bed frame | mattress | shelf | "
        "shelves | basket | baskets | tablecloth | napkins | apron | slippers | diffuser | clock | frame | frames | "
        "bench | stool"
    ),
    "zh": _phrases(
        "沙发 | 地毯 | 杯子 | 马克杯 | 水杯 | 枕头 | 抱枕 | 靠垫 | 窗帘 | 花瓶 | 茶壶 | 床单 "
        "| 餐桌 | 茶几 | 书桌 | 椅子 | 凳子 | 落地灯 | 浴室垫 | 浴袍 | 睡袍 | 盘子 | 碗 | "
        "镜子 | 衣柜 | 床垫 | 床架 | 架子 | 置物架 | 篮子 | 桌布 | 餐巾 | 围裙 | 拖鞋 | 扩香 "
        "| 钟 | 相框"
    ),
}

# materials: one written right before a product's words that is not that product's own means another product
MATERIALS = {
    "en": _phrases(
        "wool | woollen | linen | cotton | oak | walnut | teak | pine | bamboo | glass | ceramic | porcelain | "
        "stoneware | rattan | velvet | silk | leather | marble | metal | steel | brass | plastic | acrylic | hinoki | "
        "cedar | wax | soy"
    ),
    "zh": _phrases(
        "羊毛 | 亚麻 | 纯棉 | 棉质 | 橡木 | 胡桃木 | 柚木 | 松木 | 竹 | 玻璃 | 陶瓷 | 瓷 | "
        "藤编 | 丝绒 | 真丝 | 皮革 | 大理石 | 金属 | 不锈钢 | 黄铜 | 塑料 | 亚克力 | 桧木 | "
        "雪松"
    ),
}

# colours: asked together with stock, the stock of one colour (which the data does not hold)
COLOURS = {
    "en": _phrases(
        "black | white | grey | gray | red | blue | green | pink | yellow | brown | beige | navy | sage | oat | "
        "charcoal | cream | ivory | purple | orange | gold | silver | sand"
    ),
    "zh": _phrases(
        "黑色 | 白色 | 灰色 | 红色 | 蓝色 | 绿色 | 粉色 | 黄色 | 棕色 | 米色 | 藏青 | 紫色 "
        "| 橙色 | 金色 | 银色 | 沙色 | 炭灰"
    ),
}

# chit-chat that only looks like a question: never answered from data, never handed over for it
CHITCHAT = {
    "en": _phrases(
        "how are you | how r u | how's it going | who else | anyone else | isn't it | isn't the | is it just me | "
        "guess what | can't wait | cant wait | are you a bot | are you a robot | are you human | how cute | so pretty "
        "| so cute | what a | do you guys ever | what are you all up to | happy monday | who's ready | whos ready | "
        "new collection | omg | ever sleep | softest thing"
    ),
    "zh": _phrases(
        "在吗 | 在不在 | 你好吗 | 你们好吗 | 天气 | 太好看了吧 | 谁懂 | 绝了 | 冲冲冲 | 机器人 | "
        "好可爱 | 神仙颜值 | 早上好 | 晚上好 | 和我一样喜欢 | 有人和我一样 | 收到啦 | 好美"
    ),
}

# words that make a text a question (besides ? and ？ and the cues above)
QUESTION_WORDS = {
    "en": _phrases(
        "how | what | what's | whats | when | where | which | who | why | do | does | did | is | are | can | could | "
        "will | would | any | anything | pls | please | price | tell me"
    ),
    "zh": _phrases("吗 | 么 | 呢 | 多少 | 几 | 什么 | 怎么 | 哪 | 是否 | 有没有 | 能否 | 可以 | 请问 | 求 | 啥 | 咋"),
}

# common words that are never typo-corrected into the shop's words, and that say nothing about a product
STOPWORDS = frozenset(
    _phrases(
        "a | about | actually | again | ah | all | also | always | am | an | and | another | any | anyone | anything | "
        "are | as | at | be | been | bit | bought | but | buy | by | can | come | comes | coming | could | day | days "
        "| did | do | does | done | each | ever | every | everyone | for | four | from | get | go | goes | going | "
        "good | got | great | guys | had | has | have | he | hello | here | hey | hi | hmm | home | how | i | if | in "
        "| is | it | it's | item | items | its | just | know | let | like | look | looking | lot | love | lovely | "
        "lumen | lumenhome | make | makes | many | may | maybe | me | might | month | more | most | much | must | my | "
        "need | never | new | nice | no | not | now | of | off | oh | ok | okay | old | on | one | ones | only | or | "
        "order | ordered | ordering | other | our | out | over | pair | pairs | per | perhaps | piece | pieces | "
        "please | pls | pm | product | products | q | question | questions | quick | really | right | same | see | set "
        "| sets | shall | she | shop | should | size | so | some | someone | something | still | store | sure | take | "
        "takes | tell | than | thank | thanks | that | the | their | them | then | there | these | they | thing | "
        "things | think | this | those | three | time | times | to | today | today's | tomorrow | tonight | too | two "
        "| umm | under | up | us | very | via | wanna | want | was | we | week | weeks | well | were | what | what's | "
        "whats | when | where | which | who | whom | why | will | with | wondering | would | wow | x | year | yes | "
        "yesterday | you | your | yours"
    )
)
