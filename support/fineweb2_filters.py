"""datatrove's filters as the reference pipelines run them, for tests and benchmarks: an
implementation of the quality rules independent of ours.
- English: FineWeb's four, with datatrove's default (published) thresholds, in FineWeb's order.
- Any other language: FineWeb-2's filtering step (`fineweb-2-pipeline.py`, step 5) from the
  language's published config (`filters/quality/languages.json`).
A document is kept when every filter keeps it (a pipeline stops at the first that removes it).
"""

from __future__ import annotations


def english_filters() -> list:
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    return [
        GopherRepetitionFilter(),
        GopherQualityFilter(),
        C4QualityFilter(),
        FineWebQualityFilter(),
    ]


def fineweb2_filters(language: str) -> list:
    """datatrove's filters set up as FineWeb-2's pipeline (`fineweb-2-pipeline.py`, step 5)
    sets them up for a language, from its config: an implementation independent of ours."""
    from datatrove.pipeline.filters import (
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    from filters.quality.languages import language_entry

    config = language_entry(language)
    code = config["fineweb2"]
    return [
        GopherRepetitionFilter(
            language=code,
            dup_para_frac=0,
            dup_line_char_frac=0,
            dup_para_char_frac=0,
            dup_line_frac=config["dup_line_frac"],
            top_n_grams=config["top_n_grams"],
            dup_n_grams=config["dup_n_grams"],
        ),
        FineWebQualityFilter(
            language=code,
            short_line_thr=999,
            char_duplicates_ratio=0.1,
            line_punct_thr=config["line_punct_thr"],
            new_line_ratio=config["new_line_ratio"],
        ),
        GopherQualityFilter(
            language=code,
            max_avg_word_length=config["max_avg_word_length"],
            min_avg_word_length=config["min_avg_word_length"],
            stop_words=config["stopwords"],
            max_non_alpha_words_ratio=config["max_non_alpha_words_ratio"],
            min_stop_words=2,
        ),
    ]


def reference_filters(language: str) -> list:
    """The filters the reference pipeline runs on a document in `language`."""
    return english_filters() if language == "en" else fineweb2_filters(language)


def reference_judges(language: str) -> bool:
    """Whether the reference can judge `language`: FineWeb-2 published rules for it (ours
    fall back to derived ones where it did not), and datatrove's word tokenizer for it needs
    no package that is not installed (IndicNLP: Bengali, ...)."""
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    from filters.quality.languages import language_entry

    if language == "en":
        return True
    code = (language_entry(language) or {}).get("fineweb2")
    if code is None:
        return False
    try:
        load_word_tokenizer(code)
    except ImportError:
        return False
    return True


def filter_by_language():
    """A datatrove filter step that runs, on each document, the reference filters of the
    language the language filter before it labelled (`metadata["language"]`), as FineWeb-2
    runs one filtering pipeline per language; a document in a language the reference cannot
    judge goes through unfiltered."""
    from datatrove.pipeline.filters.base_filter import BaseFilter

    class FilterByLanguage(BaseFilter):
        name = "🗣 per-language quality"

        def __init__(self) -> None:
            super().__init__()
            self.chains: dict[str, list] = {}

        def filter(self, doc):
            language = doc.metadata["language"]
            if language not in self.chains:
                judged = reference_judges(language)
                self.chains[language] = reference_filters(language) if judged else []
            for step in self.chains[language]:
                if (result := step.filter(doc)) is not True:
                    return result
            return True

    return FilterByLanguage()


def kept(filters: list, text: str, id_: str = "0") -> bool:
    from datatrove.data import Document

    document = Document(text=text, id=id_)
    return all(f.filter(document) is True for f in filters)
