"""Tests for dimedia_course.course.viz (plotting helpers used by the website)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from dimedia_course import make_generator  # noqa: E402
from dimedia_course.course import viz  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _linear_betas(T=100):
    return torch.linspace(1e-4, 2e-2, T)


def test_to_numpy_images_shapes():
    assert viz.to_numpy_images(torch.zeros(4, 1, 8, 8)).shape == (4, 8, 8)
    assert viz.to_numpy_images(torch.zeros(2, 3, 8, 8)).shape == (2, 8, 8, 3)
    assert viz.to_numpy_images(np.zeros((8, 8))).shape == (1, 8, 8)
    assert viz.to_numpy_images([torch.zeros(1, 8, 8), torch.zeros(1, 8, 8)]).shape == (2, 8, 8)


def test_to_numpy_images_rejects_bad_input():
    with pytest.raises(ValueError, match="channels"):
        viz.to_numpy_images(torch.zeros(2, 2, 8, 8))
    with pytest.raises(TypeError, match="images"):
        viz.to_numpy_images("not an image")
    with pytest.raises(ValueError, match="empty"):
        viz.to_numpy_images([])


def test_show_images_grid_and_titles():
    fig = viz.show_images(torch.rand(5, 1, 8, 8) * 2 - 1, nrow=3, titles=list("abcde"), suptitle="grid")
    assert len(fig.axes) == 6  # 2 rows x 3 columns, last one empty
    assert [a.get_title() for a in fig.axes[:5]] == list("abcde")


def test_show_images_into_existing_axes_and_figure():
    fig, ax = plt.subplots()
    out = viz.show_images(torch.zeros(4, 1, 8, 8), nrow=2, ax=ax)
    assert out is fig
    assert ax.images[0].get_array().shape == (17, 17)  # 2x2 mosaic with a 1-pixel gap
    fig2 = plt.figure()
    assert viz.show_images(torch.zeros(2, 1, 8, 8), fig=fig2) is fig2


def test_show_images_validates_arguments():
    with pytest.raises(ValueError, match="titles"):
        viz.show_images(torch.zeros(2, 1, 8, 8), titles=["only one"])
    with pytest.raises(ValueError, match="nrow"):
        viz.show_images(torch.zeros(2, 1, 8, 8), nrow=0)


def test_plot_schedules_panels():
    betas = _linear_betas()
    fig = viz.plot_schedules({"linear": betas, "constant": torch.full((100,), 0.01)})
    assert len(fig.axes) == 3
    assert len(fig.axes[0].lines) == 2
    # alpha_bar is decreasing for the first schedule
    y = fig.axes[1].lines[0].get_ydata()
    assert np.all(np.diff(y) < 0)


def test_plot_schedules_accepts_objects_with_betas():
    class Sched:
        betas = _linear_betas()

    fig = viz.plot_schedules({"obj": Sched()}, quantities=("log_snr",))
    assert len(fig.axes) == 1


def test_plot_schedules_rejects_bad_input():
    with pytest.raises(ValueError, match="schedules"):
        viz.plot_schedules({})
    with pytest.raises(ValueError, match="quantities"):
        viz.plot_schedules({"a": _linear_betas()}, quantities=("nope",))
    with pytest.raises(ValueError, match="betas"):
        viz.plot_schedules({"a": torch.ones(10)})


def test_plot_forward_process_is_reproducible_and_matches_eq4():
    x0 = torch.zeros(2, 1, 8, 8)
    abar = torch.cumprod(1 - _linear_betas(), 0)
    fig1 = viz.plot_forward_process(x0, abar, [0, 50, 99], generator=make_generator(0))
    fig2 = viz.plot_forward_process(x0, abar, [0, 50, 99], generator=make_generator(0))
    assert len(fig1.axes) == 6
    a1 = fig1.axes[5].images[0].get_array()
    a2 = fig2.axes[5].images[0].get_array()
    np.testing.assert_allclose(a1, a2)
    noise = torch.ones_like(x0)
    fig3 = viz.plot_forward_process(x0, abar, [99], noise=noise)
    np.testing.assert_allclose(
        fig3.axes[0].images[0].get_array(), np.full((8, 8), float((1 - abar[99]).sqrt())), rtol=1e-5
    )
    assert fig1.axes[0].get_title() == "t = 0"


def test_plot_forward_process_rejects_bad_timesteps():
    abar = torch.cumprod(1 - _linear_betas(), 0)
    with pytest.raises(ValueError, match="timesteps"):
        viz.plot_forward_process(torch.zeros(1, 1, 8, 8), abar, [100])
    with pytest.raises(ValueError, match="noise"):
        viz.plot_forward_process(torch.zeros(1, 1, 8, 8), abar, [1], noise=torch.zeros(2, 1, 8, 8))


def test_plot_trajectory_selects_frames():
    traj = [torch.full((2, 1, 8, 8), float(i)) for i in range(20)]
    fig = viz.plot_trajectory(traj, num_frames=5, labels=[f"t{i}" for i in range(20)])
    assert len(fig.axes) == 5
    assert fig.axes[0].get_title() == "t0" and fig.axes[-1].get_title() == "t19"
    with pytest.raises(ValueError, match="index"):
        viz.plot_trajectory(traj, index=5)


def test_plot_image_rows_and_curve():
    fig = viz.plot_image_rows({"a": torch.zeros(3, 1, 8, 8), "b": torch.ones(3, 1, 8, 8)}, col_titles=["x", "y", "z"])
    assert len(fig.axes) == 6
    with pytest.raises(ValueError, match="same number"):
        viz.plot_image_rows({"a": torch.zeros(3, 1, 8, 8), "b": torch.ones(2, 1, 8, 8)})
    fig = viz.plot_curve([1, 2, 3], {"mse": [3.0, 2.0, 1.0]}, xlabel="scale", logy=True)
    assert fig.axes[0].get_yscale() == "log"
    with pytest.raises(ValueError, match="lengths"):
        viz.plot_curve([1, 2], [1.0, 2.0, 3.0])


def test_html_table_escapes_cells_and_checks_row_lengths():
    import pytest

    from dimedia_course.course.viz import html_table

    out = html_table(["a", "b<"], [[1, "x & y"], [2.5, "z"]], caption="c")
    assert out.startswith("<table><caption>c</caption><thead><tr><th>a</th><th>b&lt;</th></tr></thead>")
    assert "<td>x &amp; y</td>" in out and out.count("<tr>") == 3 and "|" not in out
    with pytest.raises(ValueError, match=r"rows\[1\]"):
        html_table(["a", "b"], [[1, 2], [3]])
