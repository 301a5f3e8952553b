"""srlib.plot's diagram of the SRGAN training graph."""

from srlib.plot import SRGAN_ARROWS, SRGAN_BOXES, srgan_graph_figure


def test_srgan_graph_draws_the_named_boxes_and_every_arrow():
    fig = srgan_graph_figure()
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    first_lines = {t.split("\n")[0] for t in texts}
    for name in ("LR", "G", "SR", "HR", "D", "VGG", "content loss", "adversarial loss", "D loss",
                 "perceptual loss", "G's Adam", "D's Adam"):
        assert name in first_lines, name
    box_texts = [text for text, *_ in SRGAN_BOXES.values()]
    drawn = [t for t in texts if t in box_texts]
    assert sorted(drawn) == sorted(box_texts)  # each box once
    arrows = [a for a in ax.texts if a.get_text() == "" and getattr(a, "arrow_patch", None) is not None]
    assert len(arrows) == len(SRGAN_ARROWS) + 2  # the graph's arrows and the two optimisers' updates


def test_srgan_graph_connects_g_d_vgg_losses_and_optimisers():
    edges = {(a.split("\n")[0], b.split("\n")[0]) for a, b, _ in SRGAN_ARROWS}
    path = [("LR", "G"), ("G", "SR"), ("SR", "D"), ("SR", "VGG"), ("HR", "VGG"), ("HR", "D")]
    assert set(path) <= edges
    assert ("VGG", "content loss") in edges and ("D", "adversarial loss") in edges
    assert ("perceptual loss", "G's Adam") in edges and ("D loss", "D's Adam") in edges
