"""The canonical grid, classes and physical constants are what the issue specifies."""
import numpy as np
import pytest

from xicam_gisaxs_cnn import canonical, physics
from xicam_gisaxs_cnn.classes import CLASS_NAMES, CLASSES, class_index


def test_grid_columns_run_qy_minus_one_to_one():
    np.testing.assert_allclose(canonical.qy_nm(), np.linspace(-1, 1, 125))


def test_grid_rows_run_qz_two_down_to_zero():
    qz = canonical.qz_nm()
    assert qz[0] == 2.0 and qz[-1] == 0.0 and np.all(np.diff(qz) < 0)


def test_q_mesh_is_indexed_row_column():
    qy, qz = canonical.q_mesh()
    assert qy.shape == qz.shape == (125, 125)
    assert qy[0, 0] == -1.0 and qy[0, -1] == 1.0 and qz[0, 0] == 2.0 and qz[-1, 0] == 0.0


def test_pixel_size_matches_grid_spacing():
    dqy, dqz = canonical.pixel_size_nm()
    assert dqy == pytest.approx(2 / 124) and dqz == pytest.approx(2 / 124)


def test_classes_in_the_paper_order():
    assert CLASS_NAMES == ("SC100", "SC110", "BCC100", "BCC110", "FCC100", "FCC111", "HCP0001")
    assert [c.miller_label for c in CLASSES] == ["100", "110", "100", "110", "100", "111", "0001"]
    assert class_index("hcp 0001") == 6
    with pytest.raises(ValueError, match="unknown class"):
        class_index("FCC110")


def test_ten_kev_wavelength():
    assert physics.wavelength_nm(10.0) == pytest.approx(0.12398, abs=1e-5)
    with pytest.raises(ValueError, match="energy_kev"):
        physics.wavelength_nm(0)


def test_silicon_critical_angle_at_ten_kev_is_about_0_18_degrees():
    delta, beta = physics.silicon_refractive_index(10.0)
    assert delta == pytest.approx(4.9e-6, rel=0.03)  # tabulated (CXRO): 4.89e-6
    assert physics.critical_angle_deg(delta) == pytest.approx(0.179, abs=0.003)
    assert beta == pytest.approx(7.37e-8)


def test_horizon_mask_hides_rows_below_qz_of_the_incident_beam():
    mask = canonical.horizon_mask()
    cutoff = physics.wavenumber_nm(10.0) * np.sin(np.radians(0.2))  # 0.177 nm^-1
    rows_valid = mask.all(axis=1)
    np.testing.assert_array_equal(rows_valid, canonical.qz_nm() >= cutoff)
    assert 10 <= (~rows_valid).sum() <= 12
