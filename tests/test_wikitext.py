"""WikiText detokenisation: models must learn language, not WikiText's formatting."""

from __future__ import annotations

from filters.wikitext import articles, detokenize, paragraphs

# WikiText's own layout: every line starts and ends with a space.
WIKITEXT = "\n".join(
    [
        " ",
        " = Lobster = ",
        " ",
        ' The lobster is 0 @.@ 7 – 2 @.@ 2 kg , or 1 @,@ 500 g ( " large " ) ; it \'s a <unk> @-@ like animal . ',
        " ",
        " = = Description = = ",
        " ",
        " Its <unk> claws are blue . ",
        " = Second article = ",
        " ",
        " Prices rose by 5 % to $ 10 . ",
        "",
    ]
)


def test_detokenize_undoes_wikitext_tokenisation():
    assert (
        detokenize(' The lobster is 0 @.@ 7 kg , or 1 @,@ 500 g ( " large " ) ; it \'s done . ')
        == 'The lobster is 0.7 kg, or 1,500 g ("large"); it\'s done.'
    )
    assert detokenize(" a 19th @-@ century war . ") == "a 19th-century war."
    assert detokenize(" Prices rose by 5 % to $ 10 . ") == "Prices rose by 5% to $10."


def test_unknown_words_leave_no_trace():
    assert detokenize(" a <unk> ( <unk> ) , <unk> , and others . ") == "a, and others."
    assert "<unk>" not in detokenize(" <unk> <unk> word <unk> ")


def test_articles_and_paragraphs_leave_headings_out(tmp_path):
    path = tmp_path / "wiki.txt"
    path.write_text(WIKITEXT)
    found = articles(path)
    assert len(found) == 2 and found[1] == ["Prices rose by 5% to $10."]
    assert found[0][1] == "Its claws are blue."
    assert not any("=" in p or "@" in p for p in paragraphs(path))


def test_real_wikitext_is_clean(corpora):
    found = paragraphs(corpora / "text" / "wikitext-2-valid.txt")
    text = "\n".join(found)
    assert len(found) > 1500
    for token in ("<unk>", " @-@ ", " @,@ ", " @.@ ", " , ", " . ", " = = "):
        assert token not in text
