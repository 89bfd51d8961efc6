"""`fasttext_file`: a model file checked whole before fastText's loader reads it."""

import json
import subprocess
import sys
import textwrap

import fasttext
import pytest

from filters.fasttext_model import fasttext_file
from tests.conftest import SAMPLE

# Trained in a child process: fastText's training may diverge (NaN) in a process that has
# loaded kenlm, as the test session has (see filters/classifier_training.py).
TRAIN = textwrap.dedent(
    """
    import sys, fasttext
    corpus, folder = sys.argv[1:]
    common = dict(verbose=0, thread=1)
    dense = fasttext.train_supervised(corpus, dim=8, epoch=5, lr=0.1, minn=2, maxn=3,
                                      bucket=1000, **common)
    dense.save_model(folder + "/dense.bin")
    dense.quantize(input=corpus, qnorm=True, qout=True, cutoff=0, dsub=2, retrain=False)
    dense.save_model(folder + "/norms-and-output-quantized.ftz")
    plain = fasttext.load_model(folder + "/dense.bin")
    plain.quantize(qnorm=False, dsub=2, retrain=False)
    plain.save_model(folder + "/input-quantized.ftz")
    fasttext.train_unsupervised(corpus, model="skipgram", dim=8, epoch=1, minCount=1,
                                bucket=1000, **common).save_model(folder + "/skipgram.bin")
    """
)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """fastText's own files of each kind: dense, quantized with and without norms and a
    quantized output matrix (which needs 256 labels), and unsupervised with subwords."""
    folder = tmp_path_factory.mktemp("fasttext")
    lines = []
    for record in (SAMPLE / "wiki.jsonl").read_text().splitlines():
        words = json.loads(record)["text"].split()
        for start in range(0, len(words), 20):
            lines.append(f"__label__{len(lines) % 260} " + " ".join(words[start : start + 20]))
    corpus = folder / "corpus.txt"
    corpus.write_text("\n".join(lines) + "\n")
    subprocess.run([sys.executable, "-c", TRAIN, str(corpus), str(folder)], check=True)
    return sorted(folder.glob("*.bin")) + sorted(folder.glob("*.ftz"))


def test_whole_models_pass_and_any_cut_or_added_byte_is_refused(models, tmp_path):
    """fastText loads a model cut in its matrices with weights missing, and one cut in its
    dictionary by reading past the end forever (gigabytes a minute). Every cut is refused,
    wherever it falls."""
    assert len(models) == 4
    damaged = tmp_path / "damaged.bin"
    for model in models:
        assert fasttext_file(str(model)) == str(model)
        assert fasttext.load_model(str(model)).get_words()  # fastText reads it
        data = model.read_bytes()
        for cut in [*range(4, 200, 7), *range(200, len(data), len(data) // 97)]:
            damaged.write_bytes(data[:cut])
            with pytest.raises(ValueError, match=f"not a whole fastText model: {damaged}: "):
                fasttext_file(str(damaged))
        damaged.write_bytes(data + b"\0")
        with pytest.raises(ValueError, match=f"ends at byte {len(data):,}, the file at byte"):
            fasttext_file(str(damaged))


def test_the_message_says_where_the_file_ends(models, tmp_path):
    data = models[0].read_bytes()
    damaged = tmp_path / "cut.bin"
    for content, message in (
        (data[:200], "it ends at byte 200, inside its dictionary"),
        (data[:4] + b"\xff" * 4 + data[8:], "format version -1; fastText 0.9 reads 1 to 12"),
    ):
        damaged.write_bytes(content)
        with pytest.raises(ValueError) as raised:
            fasttext_file(str(damaged))
        assert str(raised.value) == f"not a whole fastText model: {damaged}: {message}"
    damaged.write_bytes(b"PK\x03\x04" + data[4:])
    with pytest.raises(ValueError) as raised:
        fasttext_file(str(damaged))
    assert str(raised.value) == f"not a fastText model: {damaged}"
