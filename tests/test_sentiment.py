import pytest
import torch

from aibook import sentiment

FAKE = """sentiment,confidence,text
positive,1.0,I love this airline http://t.co/abc
positive,1.0,RT @fan: I love this airline
negative,1.0,@united lost my bag again &amp; again
positive,0.9,@united lost my bag again & again
negative,0.5,meh flight
negative,,no confidence given
neutral,1.0,just a plane
negative,1.0,worst delay ever
positive,0.95,great crew today
"""


@pytest.fixture(scope="module")
def data():
    return sentiment.load(seed=0)


def test_splits_are_disjoint_items(data):
    parts = (data.train, data.val, data.test)
    keys = [{sentiment.item_key(t) for t in part.texts} for part in parts]
    assert sum(map(len, keys)) == len(data.train) + len(data.val) + len(data.test)  # no repeats
    assert not keys[0] & keys[1] and not keys[0] & keys[2] and not keys[1] & keys[2]


def test_splits_are_balanced_and_typed(data):
    for part, n in ((data.train, 2000), (data.val, 400), (data.test, 1000)):
        texts, labels = part
        assert len(texts) == n and labels.dtype == torch.int64
        assert torch.bincount(labels, minlength=2).tolist() == [n // 2, n // 2]
        assert all(isinstance(t, str) and t for t in texts)


def test_test_split_depends_only_on_seed_not_on_train_size(data):
    small = sentiment.load(seed=0, n_train=200)
    assert small.test.texts == data.test.texts and small.val.texts == data.val.texts
    torch.testing.assert_close(small.test.labels, data.test.labels)
    assert set(small.train.texts) <= set(data.train.texts)
    other = sentiment.load(seed=1, n_train=200, n_val=0)
    assert other.test.texts != data.test.texts


def test_clean_drops_links_and_decodes_entities():
    assert sentiment.clean("a &amp; b  http://t.co/x\r\nc") == "a & b c"
    assert sentiment.item_key("RT @fan: Hello, World!") == sentiment.item_key("hello world @x")


def test_items_dedupe_and_drop_conflicts_and_low_confidence(tmp_path):
    path = tmp_path / "fake.csv"
    path.write_text(FAKE)
    got = dict(sentiment.items(min_confidence=0.8, path=path))
    # the retweet duplicates the first tweet; the bag tweets disagree; 0.5, nan and neutral go
    assert got == {"I love this airline": 1, "worst delay ever": 0, "great crew today": 1}
    assert len(sentiment.items(min_confidence=0.0, path=path)) == 4  # adds "meh flight"


def test_bad_arguments_raise_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="n_test must be a non-negative even int"):
        sentiment.load(n_test=3)
    with pytest.raises(ValueError, match=r"min_confidence must be in \[0, 1\]"):
        sentiment.items(min_confidence=2)
    path = tmp_path / "fake.csv"
    path.write_text(FAKE)
    with pytest.raises(ValueError, match="negative has 1 items .* needs 3 per class"):
        sentiment.load(n_train=2, n_val=2, n_test=2, path=path)
    with pytest.raises(ValueError, match="2 texts but 1 labels"):
        sentiment.TextSet(["a", "b"], torch.zeros(1))


def _brute_force_near(texts, reference, threshold):
    """Every pair, one at a time: the definition that near_duplicates computes in bulk."""
    out = []
    for t in texts:
        a = sentiment.words(t)
        out.append(any(len(a & b) >= threshold * max(len(a | b), 1)
                       for b in map(sentiment.words, reference)))
    return out


def test_near_duplicates_is_word_jaccard():
    ref = ["my flight was delayed three hours today", "great crew on this flight"]
    texts = ["My flight was delayed three hours, today!",   # same words: 1.0
             "my flight was delayed four hours today",       # 6 of 8 words: 0.75
             "@united my flight was delayed three hours today again",  # 7 of 8: 0.875
             "nothing in common", ""]
    got = sentiment.near_duplicates(texts, ref, 0.8).tolist()
    assert got == [True, False, True, False, False]
    assert got == _brute_force_near(texts, ref, 0.8)
    assert sentiment.near_duplicates(texts, ref, 0.7).tolist()[1]    # 0.75 >= 0.7
    with pytest.raises(ValueError, match=r"threshold must be in \(0, 1\], got 0"):
        sentiment.near_duplicates(texts, ref, 0)


def test_no_test_tweet_has_a_near_duplicate_in_train_or_val(data):
    assert data.skipped > 0                      # the corpus has such pairs: some were skipped
    for part in (data.train, data.val):
        assert not sentiment.near_duplicates(data.test.texts, part.texts).any()
    assert not sentiment.near_duplicates(data.val.texts, data.train.texts).any()


def test_topic_names_the_crowd_job():
    assert sentiment.topic("@united lost my bag") == "airlines"
    assert sentiment.topic("Would you ride in a driverless car?") == "self-driving cars"
    assert sentiment.topic("Brady knew about the balls #deflategate") == "Deflategate"
    assert sentiment.topic("lineup for Coachella is out") == "Coachella"
    assert sentiment.topic("Claritin works") == "allergy drug"
    assert sentiment.topic("my new iPhone is great") == "Apple"
    assert sentiment.topic("nice weather") == "other"
