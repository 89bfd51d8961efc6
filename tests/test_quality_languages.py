"""Per-language quality rules: FineWeb-2's thresholds and stop words per language, GlotLID
labels mapped to them, every language the language stage emits judged without error, and
the same decisions as datatrove's filters run as FineWeb-2's pipeline runs them."""

from __future__ import annotations

import collections

import pyarrow as pa
import pytest

from filters.fasttext_model import lid176_path, load_model
from filters.language import Language
from filters.quality.languages import (
    FINEWEB2_PIPELINE,
    fineweb2_table,
    glotlid_configs,
    language_entry,
    min_language_score,
    published,
    rules_language,
    words_language,
)
from filters.quality.stage import Quality
from support.fineweb2_filters import fineweb2_filters, kept

SENTENCES = {
    "en": "The children walked to the old school by the river every morning with their friends.",
    "de": "Die Kinder gingen jeden Morgen mit ihren Freunden zu der alten Schule am Fluss.",
    "fr": "Les enfants allaient chaque matin avec leurs amis à la vieille école près de la rivière.",
    "es": "Los niños caminaban cada mañana con sus amigos a la vieja escuela junto al río.",
    "it": "I bambini andavano ogni mattina con i loro amici alla vecchia scuola vicino al fiume.",
    "pt": "As crianças caminhavam todas as manhãs com os seus amigos até a velha escola junto ao rio.",
    "nl": "De kinderen liepen elke ochtend met hun vrienden naar de oude school bij de rivier.",
    "pl": "Dzieci chodziły każdego ranka ze swoimi przyjaciółmi do starej szkoły nad rzeką.",
    "cs": "Děti chodily každé ráno se svými přáteli do staré školy u řeky.",
    "sv": "Barnen gick varje morgon med sina vänner till den gamla skolan vid floden.",
    "fi": "Lapset kävelivät joka aamu ystäviensä kanssa vanhaan kouluun joen rannalla.",
    "hu": "A gyerekek minden reggel a barátaikkal együtt mentek a folyó melletti régi iskolába.",
    "tr": "Çocuklar her sabah arkadaşlarıyla birlikte nehrin yanındaki eski okula yürürdü.",
    "id": "Anak-anak berjalan setiap pagi bersama teman-teman mereka ke sekolah tua di tepi sungai.",
    "vi": "Mỗi buổi sáng những đứa trẻ cùng bạn bè đi bộ đến ngôi trường cũ bên bờ sông.",
    "ru": "Каждое утро дети вместе с друзьями ходили в старую школу у реки.",
    "uk": "Щоранку діти разом із друзями ходили до старої школи біля річки.",
    "el": "Κάθε πρωί τα παιδιά πήγαιναν με τους φίλους τους στο παλιό σχολείο δίπλα στο ποτάμι.",
    "ar": "كان الأطفال يمشون كل صباح مع أصدقائهم إلى المدرسة القديمة بجانب النهر.",
    "he": "הילדים הלכו כל בוקר עם החברים שלהם לבית הספר הישן ליד הנהר.",
    "hi": "बच्चे हर सुबह अपने दोस्तों के साथ नदी के किनारे पुराने स्कूल जाते थे।",
    "zh": "孩子们每天早上和他们的朋友一起走到河边的那所老学校去上课。",
    "ja": "子供たちは毎朝友達と一緒に川のそばの古い学校へ歩いて行きました。",
    "ko": "아이들은 매일 아침 친구들과 함께 강가에 있는 오래된 학교로 걸어갔습니다.",
    "th": "เด็กๆ เดินไปโรงเรียนเก่าริมแม่น้ำกับเพื่อนๆ ของพวกเขาทุกเช้า",
    "km": "ប្រាសាទអង្គរវត្តគឺជាកេរ្តិ៍ដំណែលដ៏ល្បីល្បាញបំផុតរបស់ប្រទេស ហើយត្រូវបានចុះក្នុងបញ្ជីបេតិកភណ្ឌពិភពលោក។",
    "lo": "ປະເທດລາວ ເປັນປະເທດໜຶ່ງໃນອາຊີຕາເວັນອອກສຽງໃຕ້ ທີ່ບໍ່ມີທາງອອກສູ່ທະເລ.",
    "my": "လူအများစုသည် မြန်မာဘာသာစကားကို ပြောဆိုကြပြီး ဗုဒ္ဓဘာသာကို ကိုးကွယ်ကြသည်။",
}


ARTICLES = {
    "de": (
        "Der alte Leuchtturm steht am Ende der Hafenmauer, und die Wärter mussten jeden Abend "
        "die Treppen hinaufsteigen.\nSie zündeten die Lampe mit großer Sorgfalt an, weil die "
        "Schiffe, die vom Meer kamen, auf das Licht angewiesen waren.\nAm Morgen schrieben die "
        "Wärter das Wetter und die Schiffe auf, die in der Nacht vorbeigefahren waren.\nDie "
        "Arbeit war hart und einsam, aber die meisten von ihnen blieben viele Jahre im Dienst.\n"
        "Heute brennt das Licht automatisch, und in dem Turm befindet sich ein kleines Museum, "
        "das für Besucher geöffnet ist."
    ),
    "fr": (
        "Le vieux phare se dresse au bout de la digue du port, et les gardiens devaient monter "
        "ses escaliers chaque soir.\nIls allumaient la lampe avec soin, car les navires qui "
        "arrivaient de la mer dépendaient de sa lumière.\nLe matin, les gardiens notaient le "
        "temps qu'il faisait et les bateaux qui étaient passés pendant la nuit.\nLe travail était "
        "dur et solitaire, mais la plupart d'entre eux sont restés pendant de longues années.\n"
        "Aujourd'hui la lumière est automatique, et la tour abrite un petit musée qui est ouvert "
        "aux visiteurs."
    ),
}


KOREAN_NEWS = (  # a news article in the style of a Seoul daily, written for this test
    "서울시는 내년부터 대중교통 요금을 단계적으로 인상하겠다고 2일 밝혔다. "
    "시는 지하철과 버스 요금을 각각 150원씩 올리는 방안을 시의회에 제출할 예정이다.\n"
    '시 관계자는 "운송 적자가 해마다 늘어나고 있어 요금 조정이 불가피하다"며 "시민들의 부담을 줄이기 위해 인상 폭을 최소화했다"고 설명했다.\n'
    "지난해 서울 지하철의 운송 적자는 약 1조 2천억 원에 달했으며, 버스 역시 준공영제 운영에 따른 재정 지원금이 크게 늘었다.\n"
    "시민단체들은 이번 결정에 대해 우려를 나타냈다. "
    '한 시민단체 대표는 "물가가 오르는 상황에서 교통 요금까지 오르면 서민들의 생활이 더 어려워질 것"이라고 말했다.\n'
    "전문가들은 요금 인상과 함께 운영 효율화 방안도 마련해야 한다고 지적했다. "
    '한국교통연구원의 한 연구위원은 "노선 조정과 경영 개선을 통해 적자를 줄이려는 노력이 병행돼야 한다"고 강조했다.\n'
    "서울시는 다음 달 공청회를 열어 시민 의견을 수렴한 뒤 최종안을 확정할 계획이다. "
    "인상안이 통과되면 새 요금은 내년 3월부터 적용된다."
)

VIETNAMESE_NEWS = (  # written for this test too
    "Hà Nội sẽ tăng giá vé xe buýt từ đầu năm tới, theo thông báo của Sở Giao thông vận tải thành phố hôm thứ Hai. "
    "Mức tăng dự kiến là 2.000 đồng mỗi lượt đối với các tuyến nội thành.\n"
    "Theo đại diện sở, chi phí vận hành đã tăng mạnh trong hai năm qua do giá nhiên liệu và tiền lương của lái xe đều tăng. "
    '"Chúng tôi đã cân nhắc kỹ để giảm thiểu ảnh hưởng tới người dân", ông nói.\n'
    "Năm ngoái, thành phố đã chi hơn 1.500 tỷ đồng để trợ giá cho hệ thống xe buýt công cộng. "
    "Số lượng hành khách đi xe buýt giảm khoảng 10% so với trước đại dịch.\n"
    "Nhiều người dân bày tỏ lo ngại về việc tăng giá. "
    "Chị Lan, một nhân viên văn phòng thường xuyên đi xe buýt, cho biết chi phí đi lại hàng tháng của chị sẽ tăng thêm khoảng 100.000 đồng.\n"
    "Các chuyên gia cho rằng thành phố cần cải thiện chất lượng dịch vụ song song với việc điều chỉnh giá vé, để thu hút thêm người dân sử dụng phương tiện công cộng."
)

KHMER = (  # five sentences about the country, written for this test
    "ប្រទេសកម្ពុជា ជាប្រទេសមួយនៅអាស៊ីអាគ្នេយ៍។\n"
    "រាជធានីរបស់ប្រទេសនេះគឺទីក្រុងភ្នំពេញ។\n"
    "ប្រជាជនភាគច្រើននិយាយភាសាខ្មែរ ហើយកាន់សាសនាព្រះពុទ្ធ។\n"
    "សេដ្ឋកិច្ចរបស់ប្រទេសពឹងផ្អែកលើកសិកម្ម ទេសចរណ៍ និងឧស្សាហកម្មកាត់ដេរ។\n"
    "ប្រាសាទអង្គរវត្តគឺជាកេរ្តិ៍ដំណែលដ៏ល្បីល្បាញបំផុតរបស់ប្រទេស ហើយត្រូវបានចុះក្នុងបញ្ជីបេតិកភណ្ឌពិភពលោក។"
)
LAO = (  # likewise
    "ປະເທດລາວ ເປັນປະເທດໜຶ່ງໃນອາຊີຕາເວັນອອກສຽງໃຕ້ ທີ່ບໍ່ມີທາງອອກສູ່ທະເລ.\n"
    "ນະຄອນຫຼວງຂອງປະເທດແມ່ນວຽງຈັນ.\n"
    "ປະຊາຊົນສ່ວນຫຼາຍເວົ້າພາສາລາວ ແລະ ນັບຖືສາສະໜາພຸດ.\n"
    "ເສດຖະກິດຂອງປະເທດແມ່ນອີງໃສ່ການກະສິກຳ ແລະ ການຜະລິດໄຟຟ້າ.\n"
    "ແມ່ນ້ຳຂອງໄຫຼຜ່ານປະເທດຈາກທິດເໜືອຫາທິດໃຕ້.\n"
    "ນັກທ່ອງທ່ຽວຫຼາຍຄົນມາຢ້ຽມຢາມເມືອງຫຼວງພະບາງ ເຊິ່ງເປັນມໍລະດົກໂລກ."
)
BURMESE = (  # likewise
    "မြန်မာနိုင်ငံသည် အရှေ့တောင်အာရှတွင် တည်ရှိသော နိုင်ငံတစ်ခု ဖြစ်သည်။\n"
    "မြို့တော်မှာ နေပြည်တော် ဖြစ်သည်။\n"
    "လူအများစုသည် မြန်မာဘာသာစကားကို ပြောဆိုကြပြီး ဗုဒ္ဓဘာသာကို ကိုးကွယ်ကြသည်။\n"
    "နိုင်ငံ၏ စီးပွားရေးသည် စိုက်ပျိုးရေးနှင့် သဘာဝသယံဇာတများအပေါ် မူတည်သည်။\n"
    "ဧရာဝတီမြစ်သည် နိုင်ငံ၏ အဓိကမြစ်ဖြစ်သည်။"
)


GLOTLID_ONLY = {  # pages in languages lid.176 does not know, under their GlotLID labels
    "nso_Latn": (  # Northern Sotho: FineWeb-2's own config, spaCy's Setswana rules
        "Bana ba be ba sepela go ya sekolong se sa kgale ka moso o mongwe le o mongwe.\n"
        "Ba be ba sepela le bagwera ba bona go feta noka ye kgolo ya motse.\n"
        "Morutiši wa bona o be a ba emetše ka pela ga kgoro ya sekolo.\n"
        "Ka morago ga dithuto ba be ba bapala kgwele ya maoto mo lebaleng.\n"
        "Batswadi ba bona ba be ba thabile ka ge bana ba ithuta gabotse."
    ),
    "srp_Latn": (  # Serbian in Latin script: its own config, not Cyrillic Serbian's
        "Deca su svako jutro išla sa svojim prijateljima u staru školu pored reke.\n"
        "Učiteljica ih je čekala ispred vrata i pozdravljala svakog učenika.\n"
        "Posle časova su se igrali u dvorištu dok ih roditelji nisu pozvali kući.\n"
        "Škola je izgrađena pre više od sto godina i danas je spomenik kulture.\n"
        "Mnogi bivši učenici se i danas rado sećaju tih dana."
    ),
    "acm_Arab": "\n".join([SENTENCES["ar"]] * 6),  # Mesopotamian Arabic: its own config
    "shn_Mymr": BURMESE,  # Shan: its own config; datatrove splits it as it splits Burmese
}


def page(language: str, lines: int = 12) -> str:
    """A page of one language's sentence, `lines` times."""
    return "\n".join([SENTENCES[language]] * lines)


def our_words(splitter, texts: list[str]) -> list[list[str]]:
    """Each text's words as `splitter` gives them."""
    return splitter.split(pa.array(texts)).strings()


def datatrove_words(language: str, text: str) -> list[str]:
    """`text`'s words as datatrove's tokenizer for the language's FineWeb-2 config gives them."""
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    code = language_entry(language)["fineweb2"]
    return load_word_tokenizer(code).word_tokenize(text)


def test_every_language_the_language_stage_emits_has_valid_rules():
    """Every lid.176 label, every GlotLID label FineWeb-2 published a config for (and a code
    with no entry) gets rules the families accept; English gets the stage's own settings,
    every other language FineWeb-2's pipeline's."""
    stage = Quality(Quality.Params())
    labels = load_model(lid176_path()).labels
    tables = [*fineweb2_table()["languages"], *glotlid_configs()]
    for language in [*labels, *tables, "xyz", "xyz_Latn", ""]:
        names = [family.name for family in stage.families(language)]
        expected = ["gopher_repetition", "gopher_quality", "c4", "fineweb"]
        if language != "en":
            expected = [name for name in expected if FINEWEB2_PIPELINE[name] is not None]
        assert names == expected, language
    [english] = [f for f in stage.families("en") if f.name == "gopher_quality"]
    assert english.params == Quality.Params().gopher_quality


def test_each_fineweb2_config_is_found_from_its_glotlid_label():
    """With GlotLID as the language model, each of FineWeb-2's 1,929 configs applies to the
    label it is named after: through the lid.176 language that uses it (`deu_Latn` → `de`),
    else under the label itself (`nso_Latn`; it took the fallback before, as did 1,669 other
    published configs). A label with no config takes its ISO 639-3 code's lid.176 language
    (`ara_Latn` → `ar`), else the fallback, under its own name."""
    entries = [*fineweb2_table()["languages"].values(), *glotlid_configs().values()]
    configs = {entry["fineweb2"] for entry in entries} - {None}
    assert len(configs) == 1929
    for name in configs:
        assert language_entry(rules_language(name))["fineweb2"] == name
    assert [rules_language(label) for label in ("deu_Latn", "cmn_Hani", "eng_Latn")] == [
        "de",
        "zh",
        "en",
    ]
    assert rules_language("srp_Cyrl") == "sr" and rules_language("srp_Latn") == "srp_Latn"
    assert rules_language("ara_Latn") == "ar" and rules_language("xyz_Latn") == "xyz_Latn"
    northern_sotho = published("nso_Latn")  # configs/nso_Latn.yml
    assert northern_sotho["gopher_repetition"]["dup_line_frac"] == 0.649
    assert northern_sotho["fineweb"]["line_punct_thr"] == 0.333
    assert northern_sotho["gopher_quality"]["stop_words"][:4] == ["wa", "ka", "go", "le"]


def test_lid176_labels_never_read_the_glotlid_table():
    """A run on lid.176's labels (or GlotLID's names of them) reads `languages.json` only
    (150 KB), not the 1.5 MB of configs for languages lid.176 does not know."""
    glotlid_configs.cache_clear()
    for label in [*load_model(lid176_path()).labels, "deu_Latn", "cmn_Hani"]:
        language = rules_language(label)
        published(language), words_language(language), min_language_score(language)
    assert glotlid_configs.cache_info().currsize == 0
    assert rules_language("nso_Latn") == "nso_Latn"
    assert glotlid_configs.cache_info().currsize == 1


def test_german_rules_are_fineweb2_config_unchanged():
    rules = published("de")
    assert rules["gopher_quality"]["stop_words"][:3] == ["der", "und", "die"]
    assert rules["gopher_quality"]["min_alpha_words_ratio"] == 0.774
    assert rules["gopher_repetition"]["top_n_grams"] == {2: 0.169, 3: 0.153, 4: 0.137}
    assert rules["c4"] is None


@pytest.mark.slow
def test_no_page_errors_and_each_language_is_judged_by_its_own_rules():
    """Pages in 28 languages (with and without spaces between words) through the language
    and quality stages: labelled as written, judged without error, none removed for too few
    letters, and fewer for lacking stop words than by the English stop words, which removed
    nearly every non-English page before. (A page repeats one sentence, which may hold fewer
    than two of its language's stop words; with repetition rules off, as they would rightly
    remove such pages.)"""
    texts = [page(language) for language in SENTENCES]
    labelled = Language(Language.Params()).process(pa.table({"text": texts})).table
    assert labelled["language"].to_pylist() == list(SENTENCES)
    assert len(Quality(Quality.Params()).process(labelled).removed) == len(texts)
    reasons = {}
    for per_language in (True, False):
        params = {"gopher_repetition": False, "per_language": per_language}
        verdict = Quality(Quality.Params.model_validate(params)).process(labelled)
        reasons[per_language] = collections.Counter(verdict.removed.to_pylist())
        print(f"per_language={per_language}: {reasons[per_language]}")
    assert reasons[True]["gopher_quality.min_alpha_words_ratio"] == 0
    stop_words = "gopher_quality.min_stop_words"
    assert reasons[False][stop_words] >= 20
    assert reasons[False][stop_words] > 2 * reasons[True][stop_words]


AFFIX_BAIT = [
    *"…,:;!?¿¡()[]{}<>_#*&。？！，、；：·।،؛٪'\"”“`‘´’‚„»«「」（）【】《》-–—.$£€¥%°/\\+=@^|~§©",
    *["...", "''", "--", "US$", "C$", "n't", "'s", "km", "kg", "USD", "IDR", "RM", "Rp"],
    *["Rs", "http://", ".com", "www.", "II.", "XIV."],
]
"""Pieces that spaCy's prefix, suffix and infix rules and special cases split or keep."""


@pytest.mark.slow
def test_every_spacy_rule_set_splits_chunks_built_to_meet_its_rules_as_spacy():
    """Each of the spaCy rule sets FineWeb-2's languages are split with gives spaCy's own
    tokens on 4,000 chunks of 1 to 4 pieces glued together: words of every sentence here
    (as written, upper or lower case), numbers, and punctuation, currency codes (`USD`,
    Indonesian prefixes), units, quotes, URL pieces and ordinals (Turkish keeps `II.`)."""
    import random

    import spacy

    from filters.quality.words import WordSplitter, spacy_rules

    rng = random.Random(0)
    words = sorted({word for sentence in SENTENCES.values() for word in sentence.split()})

    def piece() -> str:
        kind = rng.random()
        if kind < 0.5:
            word = rng.choice(words)
            return rng.choice([word, word.upper(), word.lower()])
        if kind < 0.65:
            return str(rng.randint(0, 10 ** rng.randint(1, 6)))
        return rng.choice(AFFIX_BAIT)

    chunks = ["".join(piece() for _ in range(rng.randint(1, 4))) for _ in range(4000)]
    texts = [" ".join(chunks[start : start + 40]) for start in range(0, len(chunks), 40)]
    labels = [*fineweb2_table()["languages"], *glotlid_configs()]
    rule_sets = {id(spacy_rules(label)): words_language(label) for label in labels}
    differ = {}
    for language in sorted(set(rule_sets.values())):
        if spacy_rules(language).letters is None:  # not rule-based: segmenters, tested above
            continue
        try:
            plain = spacy.blank(language).tokenizer
        except Exception:  # no spaCy rules of its own: English's, as the splitter takes
            plain = spacy.blank("en").tokenizer
        expected = [[t.text.strip() for t in plain(text) if t.text.strip()] for text in texts]
        splitter = WordSplitter(language)
        ours = [
            tokens
            for start in range(0, len(texts), 16)
            for tokens in splitter.split(pa.array(texts[start : start + 16])).strings()
        ]
        differ[language] = sum(a != b for a, b in zip(expected, ours, strict=True))
    assert len(differ) >= 60
    assert not any(differ.values()), {k: v for k, v in differ.items() if v}


LINE_BAIT = [
    *["lorem ipsum dolor", "Please enable javascript to view", "{x}", "[1]", "[citation needed]"],
    *["Privacy policy and cookie notice", "• item", "- item", "...", "…", "#tag", "2024"],
    *["http://a.b/c", "12:30", "USDA", "II.", "€5", "»x«", "e-mail", "co-op."],
]
"""Pieces of lines that C4's, Gopher's and FineWeb's rules look for."""


@pytest.mark.slow
def test_documents_built_to_meet_the_rules_are_decided_as_datatrove_decides_them():
    """In every language here that datatrove can judge, 60 documents built from the
    language's sentence to trip the rules (repeated and blank lines, bullets, ellipses,
    lines without end marks, lorem ipsum, javascript and policy notices, braces, citations,
    overlong words) get the same keep-or-remove decision from our stage and from datatrove's
    filters as FineWeb-2 (English: FineWeb) runs them."""
    import random

    from support.fineweb2_filters import reference_filters, reference_judges

    rng = random.Random(0)

    def line(sentence: str, odds: dict[str, float]) -> str:
        words = sentence.split()
        if rng.random() < odds["bait"]:
            text = " ".join([rng.choice(LINE_BAIT), *rng.choices(words, k=rng.randint(0, 8))])
        elif rng.random() < odds["cut"]:
            text = " ".join(rng.choices(words, k=rng.randint(1, len(words))))
            text += rng.choice(["", ",", ":", "!", "?"])
        else:
            text = sentence
        if rng.random() < odds["ellipsis"]:
            text += rng.choice(["...", "…"])
        if rng.random() < odds["bullet"]:
            text = rng.choice(["• ", "- ", "  • "]) + text
        if rng.random() < 0.03:
            text += " " + "x" * rng.randint(20, 1100)
        return text

    def document(sentence: str) -> str:
        # Each document leans some way, so that every rule meets documents on both sides.
        odds = {name: rng.choice([0.0, 0.3, 1.0]) for name in ("bait", "cut", "ellipsis", "bullet")}
        repeats, blanks = rng.choice([0.0, 0.2, 0.7]), rng.choice([0.0, 0.1])
        lines: list[str] = []
        for _ in range(rng.randint(1, 30)):
            lines.append(
                rng.choice(lines) if lines and rng.random() < repeats else line(sentence, odds)
            )
            if rng.random() < blanks:
                lines.append("")
        return "\n".join(lines)

    stage = Quality(Quality.Params())
    languages = [language for language in SENTENCES if reference_judges(language)]
    differ = {}
    for language in languages:
        texts = [document(SENTENCES[language]) for _ in range(60)]
        verdict = stage.process(pa.table({"text": texts, "language": [language] * len(texts)}))
        ours = verdict.removed.is_null().to_pylist()
        filters = reference_filters(language)
        theirs = [kept(filters, text, str(i)) for i, text in enumerate(texts)]
        differ[language] = sum(a != b for a, b in zip(ours, theirs, strict=True))
    assert len(languages) >= 20
    assert not any(differ.values()), {k: v for k, v in differ.items() if v}


def test_words_of_chinese_japanese_and_thai_come_from_a_segmenter():
    """Split chunk by chunk (words.py), as datatrove's tokenizer splits the whole text."""
    from filters.quality.words import WordSplitter

    for language, word in (("zh", "学校"), ("ja", "学校"), ("th", "โรงเรียน")):
        text = f"{SENTENCES[language]} {SENTENCES[language][::-1]}\n{SENTENCES[language]}"
        [tokens] = our_words(WordSplitter(language), [text])
        assert word in tokens and len(tokens) > 10, (language, tokens)
        assert tokens == datatrove_words(language, text), language


def test_japanese_longer_than_sudachi_takes_is_split_without_error():
    """SudachiPy (spaCy's Japanese) refuses a text over 49,149 bytes, and the splitter gave
    it a batch's new chunks in one text: a group of ordinary pages raised, and a long page
    was errored. A page of 600 lines (63 KB) is split as datatrove splits each line, and a
    page that is one line without a space (58 KB) as datatrove splits it: cut at 40,000
    bytes. The stage judges both in one batch without raising."""
    from filters.quality.words import WordSplitter

    lines = [f"{SENTENCES['ja']}第{number}号" for number in range(600)]
    many_lines, one_line = "\n".join(lines), SENTENCES["ja"] * 600
    assert min(len(many_lines.encode()), len(one_line.encode())) > 49_149
    ours = our_words(WordSplitter("ja"), [many_lines, one_line])
    assert ours[0] == [word for line in lines for word in datatrove_words("ja", line)]
    assert ours[1] == datatrove_words("ja", one_line)
    table = pa.table({"text": [many_lines, one_line], "language": ["ja", "ja"]})
    assert Quality(Quality.Params()).process(table).table.num_rows == 2


@pytest.mark.parametrize(
    ("language", "page"),
    [("ko", KOREAN_NEWS), ("vi", VIETNAMESE_NEWS), ("km", KHMER), ("lo", LAO), ("my", BURMESE)],
)
def test_words_spaces_do_not_separate_are_counted_as_fineweb2_counted_them(language, page):
    """Korean puts spaces between phrases (학교에서) and FineWeb-2's Korean stop words are
    particles (에서): split at spaces, a news article had none and was removed. Vietnamese
    puts spaces between syllables, and its words (`thành phố`) span them; Khmer, Lao and
    Burmese put them between phrases, and every "word" was one. The words are those
    datatrove's tokenizer for the language gives, and the page, its first line alone and the
    page three times over are decided as datatrove's filters decide them with FineWeb-2's
    config for the language: kept, too short, repeated."""
    from filters.quality.segmenters import word_splitter

    texts = [page, page.split("\n")[0], "\n".join([page] * 3)]
    for text, words in zip(texts, our_words(word_splitter(language), texts), strict=True):
        assert words == datatrove_words(language, text)
    table = pa.table({"text": texts, "language": [language] * len(texts)})
    removed = Quality(Quality.Params()).process(table).removed.to_pylist()
    filters = fineweb2_filters(language)
    theirs = [kept(filters, text) for text in texts]
    assert [reason is None for reason in removed] == theirs == [True, False, False]


@pytest.mark.parametrize(
    ("language", "sentence"),
    [
        ("yue", "佢哋每朝都同朋友一齊行去河邊嗰間舊學校上堂。"),  # split as Chinese
        ("wuu", "伊拉每日早浪向搭朋友一道走到河边个老学堂去。"),  # likewise
        ("bs", "Djeca su svako jutro išla u staru školu, zar ne?"),  # Serbian's rules
        ("ka", "ბავშვები ყოველ დილით მეგობრებთან ერთად მიდიოდნენ ძველ სკოლაში."),  # xx
    ],
)
def test_a_language_without_spacy_rules_is_split_as_datatrove_splits_it(language, sentence):
    """Where spaCy has no rules for a language, datatrove (and so FineWeb-2's thresholds)
    splits it with a neighbour's (a Cantonese sentence was one word in English rules)."""
    from filters.quality.segmenters import word_splitter

    [words] = our_words(word_splitter(language), [sentence])
    assert words == datatrove_words(language, sentence)


@pytest.mark.slow
@pytest.mark.parametrize("label", sorted(GLOTLID_ONLY))
def test_a_glotlid_language_with_its_own_config_is_judged_as_fineweb2_judges_it(label):
    """A language lid.176 does not know, labelled by GlotLID: its words are those datatrove's
    tokenizer for its config gives (Shan's, Burmese's segmenter's), and a page, its first line
    alone and the page three times over are decided as datatrove's filters decide them with
    FineWeb-2's config for that label."""
    from filters.quality.segmenters import word_splitter

    text = GLOTLID_ONLY[label]
    texts = [text, text.split("\n")[0], "\n".join([text] * 3)]
    assert rules_language(label) == label
    for one, words in zip(texts, our_words(word_splitter(label), texts), strict=True):
        assert words == datatrove_words(label, one)
    table = pa.table({"text": texts, "language": [label] * len(texts)})
    removed = Quality(Quality.Params()).process(table).removed.to_pylist()
    theirs = [kept(fineweb2_filters(label), one) for one in texts]
    print(label, removed)
    assert [reason is None for reason in removed] == theirs
    assert theirs[1:] == [False, False]


@pytest.mark.slow
def test_glotlid_labels_map_to_the_rules_language(tmp_path):
    """A small fastText model trained on GlotLID-style labels: the language stage writes the
    rules' language (`deu_Latn` → `de`; `nso_Latn`, which lid.176 does not know, as it is),
    `keep` takes either form, and the quality stage judges a German page by German rules
    (kept; removed by the English stop-word rule)."""
    import fasttext

    corpus = tmp_path / "glotlid.txt"
    labels = {"de": "deu_Latn", "fr": "fra_Latn", "en": "eng_Latn", "zh": "cmn_Hani"}
    labels["nso_Latn"] = "nso_Latn"

    def text(language: str, lines: int = 12) -> str:
        return GLOTLID_ONLY.get(language) or page(language, lines)

    corpus.write_text(
        "".join(
            f"__label__{label} {text(language, 3).replace(chr(10), ' ')}\n"
            for language, label in labels.items()
            for _ in range(20)
        )
    )
    model = fasttext.train_supervised(input=str(corpus), epoch=20, minn=2, maxn=4, verbose=0)
    model.save_model(str(tmp_path / "glotlid.bin"))
    texts = [text(language) for language in labels]
    model_path = str(tmp_path / "glotlid.bin")
    params = Language.Params(model=model_path, keep=["deu_Latn", "zh"], min_score=0.0)
    verdict = Language(params).process(pa.table({"text": texts}))
    assert verdict.table["language"].to_pylist() == list(labels)
    assert verdict.removed.to_pylist() == [
        None,
        *["language_not_kept"] * 2,
        None,
        "language_not_kept",
    ]
    german = Language(params).process(pa.table({"text": [ARTICLES["de"]]})).table
    assert german["language"].to_pylist() == ["de"]
    assert Quality(Quality.Params()).process(german).removed.to_pylist() == [None]
    english_rules = Quality(Quality.Params(per_language=False)).process(german)
    assert english_rules.removed.to_pylist() == ["gopher_quality.min_stop_words"]


def test_a_language_config_changes_only_that_language(tmp_path):
    from pipeline.config import validate_config
    from pipeline.schema import ConfigError

    inputs = [{"source": "web", "format": "jsonl", "paths": ["x.jsonl"]}]

    def stage(params):
        stages = [{"language": {}}, {"quality": params}]
        config = {"name": "t", "output": "o", "inputs": inputs, "stages": stages}
        return Quality(validate_config(config).stage("quality").params)

    table = pa.table({"text": list(ARTICLES.values()), "language": list(ARTICLES)})
    assert stage({}).process(table).removed.to_pylist() == [None, None]
    strict = stage({"languages": {"de": {"gopher_quality": {"min_doc_words": 500}}}})
    assert strict.process(table).removed.to_pylist() == ["gopher_quality.min_doc_words", None]
    with_c4 = stage({"languages": {"de": {"c4": {}}}})
    assert [f.name for f in with_c4.families("de")] == [
        "gopher_repetition",
        "gopher_quality",
        "c4",
        "fineweb",
    ]
    assert "c4" not in [f.name for f in with_c4.families("fr")]
    assert "c4" not in [f.name for f in stage({"c4": False}).families("en")]
    ngrams = stage(
        {"languages": {"de": {"gopher_repetition": {"top_n_grams": {"2": 0.3, 4: None}}}}}
    )
    [repetition] = [f for f in ngrams.families("de") if f.name == "gopher_repetition"]
    assert repetition.params.top_n_grams == {
        2: 0.3,
        3: published("de")["gopher_repetition"]["top_n_grams"][3],
    }
    with pytest.raises(ConfigError, match=r"stages.quality.languages.de.gopher_quality\S*min_stop"):
        stage({"languages": {"de": {"gopher_quality": {"min_stop": 3}}}})


MIN_PAGES = 20


def test_removal_shares_per_language_on_trafilatura_pages(trafilatura_pages):
    """The trafilatura pages labelled by the language stage: the share each language with
    ≥ 20 pages loses to the quality stage, with per-language rules and without (printed with
    the top reasons). English is decided alike either way, and without them every page as an
    unlabelled one; every other language's share moves towards English's. (Issue 25 asks for German, Spanish and French within 10 points of
    English; FineWeb-2's rules, unchanged, leave Spanish and French further below: see the
    printout.)"""
    labelled = Language(Language.Params()).process(trafilatura_pages).table
    languages = labelled["language"].to_pylist()
    decided = {
        per_language: Quality(Quality.Params(per_language=per_language))
        .process(labelled)
        .removed.to_pylist()
        for per_language in (True, False)
    }
    shares: dict[bool, dict[str, float]] = {True: {}, False: {}}
    for language, count in collections.Counter(languages).most_common():
        if count < MIN_PAGES:
            break
        for per_language, reasons in decided.items():
            removed = [r for lang, r in zip(languages, reasons, strict=True) if lang == language]
            removed = [r for r in removed if r is not None]
            shares[per_language][language] = len(removed) / count
            top = collections.Counter(removed).most_common(3)
            print(
                f"{language} per_language={per_language}: {len(removed)} of {count} removed "
                f"({len(removed) / count:.1%}) {top}"
            )
    english = [i for i, lang in enumerate(languages) if lang == "en"]
    differ = [i for i in english if (decided[True][i] is None) != (decided[False][i] is None)]
    print(f"English pages decided differently with per-language rules off: {len(differ)}")
    assert set(shares[True]) >= {"de", "en", "es", "fr"} and differ == []
    # Off, every page is judged as unlabelled ones are: as datatrove's filters judge them
    # (test_quality.py and benchmarks/filters.py compare those with datatrove).
    unlabelled = Quality(Quality.Params()).process(trafilatura_pages).removed.to_pylist()
    assert [r is None for r in unlabelled] == [r is None for r in decided[False]]
    for language in set(shares[True]) - {"en"}:
        gap = {on: abs(shares[on][language] - shares[on]["en"]) for on in (True, False)}
        assert gap[True] < gap[False], language


def test_same_decisions_as_fineweb2_with_datatrove_on_trafilatura_pages(trafilatura_pages):
    """The Spanish and French pages (and 100 German ones), each judged by datatrove's filters
    as FineWeb-2 runs them for its language: the same pages kept."""
    labelled = Language(Language.Params()).process(trafilatura_pages).table
    languages = labelled["language"].to_pylist()
    ours = Quality(Quality.Params()).process(labelled).removed.to_pylist()
    texts = labelled["text"].to_pylist()
    for language, most in (("es", None), ("fr", None), ("de", 100)):
        rows = [i for i, lang in enumerate(languages) if lang == language][:most]
        filters = fineweb2_filters(language)
        differ = []
        for i in rows:
            theirs = kept(filters, texts[i], str(i))
            if theirs != (ours[i] is None):
                differ.append(i)
                print(f"{language}: datatrove keeps={theirs} ours={ours[i]}")
        print(f"{language}: {len(rows) - len(differ)} of {len(rows)} pages decided alike")
        assert differ == [], language
