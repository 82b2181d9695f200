"""Realistic detector frames, domain randomisation of training batches, and evaluation on real-like frames.

- :mod:`.frames`: a simulated film rendered on a real detector (Pilatus 1M/2M or a
  small test detector) with gaps, beam stop, horizon, Yoneda band, specular rod,
  background and counting statistics, written as TIFF/EDF/CBF/NeXus.
- :mod:`.randomise`: the same artefacts applied to canonical training batches,
  and simulation of batches over a range of window scales.
- :mod:`.evaluate`: accuracy through the file path (``gisaxs-cnn classify``) on
  realistic frames, by lattice constant, masked fraction, counts and incidence.
- :mod:`.counts`: accuracy on the randomised training distribution by total counts,
  each pattern at its true scale: the model's own limit, apart from the photons'.
- :mod:`.ideal_observer`: the Bayes-optimal observer told every draw of a frame but its
  class, an upper bound for any classifier on the realistic frames (the photons' limit).
"""
