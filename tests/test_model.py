"""Preprocessing, offline weights, the predictor, mappings and saliency on generated images."""
from __future__ import annotations

import json

import numpy as np
import pytest

from covsev_tools.model.allocator import reuse_large_allocations
from covsev_tools.model.mapping import SeverityMapping, paper_mapping
from covsev_tools.model.network import forward_features, inference_network
from covsev_tools.model.outputs import OUTPUT_COLUMNS, PATHOLOGIES
from covsev_tools.model.predictor import Predictor
from covsev_tools.model.weights import (WEIGHTS_ENV, WEIGHTS_NAME, WeightsLoadError,
                                        WeightsNotFoundError, find_weights, load_densenet,
                                        weights_filename, weights_url)
from covsev_tools.model.preprocess import (center_crop, first_channel, normalize, prepare_image,
                                           resize_operator)
from helpers import LUNG_OPACITY, seed_reference, write_images


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return write_images(tmp_path_factory.mktemp("images"))


@pytest.fixture(scope="module")
def predictor(weights_dir):
    return Predictor(weights_dir=weights_dir, batch_size=3, workers=2)


# ----------------------------------------------------------------------------- preprocessing

def _xrv_pipeline(img, max_value):
    import torchvision
    import torchxrayvision as xrv

    norm = xrv.datasets.normalize(img, max_value)
    if norm.ndim == 3:
        norm = norm[:, :, 0]
    transform = torchvision.transforms.Compose([xrv.datasets.XRayCenterCrop(),
                                                xrv.datasets.XRayResizer(224)])
    return transform(norm[None])


@pytest.mark.parametrize("shape", [(600, 500), (500, 600), (3001, 2500), (224, 300), (225, 225),
                                   (448, 448), (150, 180), (1000, 1000, 3)])
def test_prepare_image_matches_xrv_transforms(shape):
    rng = np.random.default_rng(sum(shape))
    img = rng.integers(0, 256, shape, dtype=np.uint8)
    expected = _xrv_pipeline(img, 255)
    got = prepare_image(img, 255)
    assert got.shape == (1, 224, 224) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=2e-3, rtol=0)  # on a [-1024, 1024] scale


def test_prepare_image_uses_real_bit_depth():
    rng = np.random.default_rng(1)
    img16 = rng.integers(0, 4096, (700, 640), dtype=np.uint16)
    np.testing.assert_allclose(prepare_image(img16, 4095), _xrv_pipeline(img16, 4095), atol=2e-3)
    with pytest.raises(ValueError, match="higher than expected bound"):
        prepare_image(img16, 255)


def test_resize_operator_zero_padding_and_skimage_clip():
    # A constant image exposes the zero padding of mode="constant" at the borders; skimage then
    # clips the darkened border back to the input range unless the padding value is inside it.
    starts, weights = resize_operator(900)
    sums = weights.sum(axis=1, dtype=np.float64)
    assert sums.max() <= 1 + 1e-6 and sums[0] < 0.9999  # border rows lose weight to the padding
    bright = np.full((900, 900), 200, dtype=np.uint8)  # normalised > 0 everywhere
    np.testing.assert_allclose(prepare_image(bright, 255), _xrv_pipeline(bright, 255), atol=2e-3)
    frame = bright.copy()
    frame[400:500, 400:500] = 0  # now 0 (the padding value) is inside the input range
    got = prepare_image(frame, 255)
    np.testing.assert_allclose(got, _xrv_pipeline(frame, 255), atol=2e-3)
    assert got[0, 0, 0] < got[0, 10, 10] - 50


def test_crop_and_channel_follow_xrv():
    img = np.arange(5 * 8 * 3).reshape(5, 8, 3)
    assert first_channel(img).shape == (5, 8)
    np.testing.assert_array_equal(center_crop(first_channel(img)), first_channel(img)[:, 2:7])
    np.testing.assert_allclose(normalize(np.array([0, 255]), 255), [-1024, 1024])


# ----------------------------------------------------------------------------- weights

def test_missing_weights_message_names_file_url_and_folder(tmp_path):
    with pytest.raises(WeightsNotFoundError) as info:
        load_densenet(tmp_path)
    message = str(info.value)
    assert weights_filename() in message and str(tmp_path) in message
    assert weights_url() in message
    assert weights_url().endswith("/" + weights_filename())


def test_weights_dir_env_var(tmp_path, monkeypatch, weights_dir):
    monkeypatch.setenv(WEIGHTS_ENV, str(weights_dir))
    assert find_weights() == weights_dir / weights_filename()
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path))
    with pytest.raises(WeightsNotFoundError, match=str(tmp_path)):
        find_weights()


def test_load_densenet_reads_the_checkpoint_through_xrv(weights_dir):
    import torch

    saved = torch.load(weights_dir / weights_filename(), weights_only=False)
    loaded = load_densenet(weights_dir)
    assert loaded.op_threshs is None and not loaded.training
    assert list(loaded.pathologies) == list(PATHOLOGIES)
    for key, value in saved.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value)


def test_corrupt_weights_file_is_a_load_error(tmp_path):
    (tmp_path / weights_filename()).write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsLoadError, match="could not load"):
        load_densenet(tmp_path)


def _batchnorms(module) -> int:
    import torch

    return sum(isinstance(m, torch.nn.BatchNorm2d) for m in module.modules())


def test_inference_network_folds_batchnorms_with_the_same_outputs(predictor, weights_dir):
    import torch

    network = predictor.network
    # norm0 after conv0 and norm2 after conv1 in each of the 58 dense layers are folded
    assert (_batchnorms(predictor.model), _batchnorms(network)) == (121, 62)
    saved = torch.load(weights_dir / weights_filename(), weights_only=False)
    for key, value in saved.state_dict().items():  # the loaded model itself is not modified
        torch.testing.assert_close(predictor.model.state_dict()[key], value)
    x = torch.rand(3, 1, 224, 224, generator=torch.Generator().manual_seed(0)) * 2048 - 1024
    with torch.inference_mode():
        want = forward_features(predictor.model, x)
        got = forward_features(network, x.contiguous(memory_format=torch.channels_last))
    for g, w in zip(got, want):
        assert float((g - w).abs().max() / w.abs().max()) < 1e-5
    # saliency (what --saliency draws) goes through the folded network: same maps to rounding
    from covsev_tools.model.saliency import saliency_maps

    fused, plain = (saliency_maps(net, x[:2], predictor.mapping) for net in (network, predictor.model))
    np.testing.assert_allclose(fused, plain, rtol=1e-2, atol=1e-4 * plain.max())


def test_inference_network_runs_an_untraceable_model_unfused():
    import torch

    class Gated(torch.nn.Module):  # data-dependent branch: torch.fx cannot trace it
        def forward(self, x):
            return x if x.sum() > 0 else -x

    model = torch.nn.Module()
    model.features, model.classifier = Gated(), torch.nn.Linear(1, 2)
    with pytest.warns(RuntimeWarning, match="without BatchNorm folding"):
        network = inference_network(model)
    assert isinstance(network.features, Gated) and network.features is not model.features
    x = torch.tensor([[-2.0]])
    assert network.features(x).item() == 2.0


def test_inference_network_leaves_a_training_model_as_it_was(weights_dir):
    import torch

    model = load_densenet(weights_dir).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    network = inference_network(model)
    assert _batchnorms(network) == 62 and not network.training
    assert model.training and all(m.training for m in model.modules())
    assert _batchnorms(model) == 121
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, before[key])


def test_reuse_large_allocations_keeps_freed_buffers_mapped():
    import resource

    if not reuse_large_allocations():
        pytest.skip("the C library has no mallopt (not glibc)")

    def page_faults():
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

    np.ones(64 << 20, dtype=np.uint8)  # maps the pages once
    before = page_faults()
    for _ in range(5):  # the pattern of a forward pass: allocate, fill, free, again
        np.ones(64 << 20, dtype=np.uint8)
    # without reuse every 64 MiB block is a fresh mmap: 16,384 faults per block (4 KiB pages),
    # or about 500 per block with transparent huge pages
    assert page_faults() - before < 100


# ----------------------------------------------------------------------------- prediction

def test_predict_rows_columns_errors_and_features(predictor, images):
    paths = [images[k] for k in ("grey.png", "broken.png", "rgb.jpg", "wide16.png", "small.png")]
    table, feats = predictor.predict(paths, progress=False, return_features=True)
    assert list(table.columns) == ["filename", "geographic_extent", "opacity",
                                   *OUTPUT_COLUMNS, "error"]
    assert list(table["filename"]) == [p.name for p in paths]
    assert table["error"][1].startswith("ImageReadError") and "broken.png" in table["error"][1]
    assert (table["error"].drop(index=1) == "").all()
    assert feats.shape == (5, 1024) and feats.dtype == np.float32
    assert np.isnan(feats[1]).all() and not np.isnan(np.delete(feats, 1, axis=0)).any()
    assert table.loc[1, "geographic_extent"] != table.loc[1, "geographic_extent"]  # NaN
    assert (np.delete(feats, 1, axis=0) >= 0).all()  # ReLU before pooling
    lung = table["xrv:Lung Opacity"].to_numpy()
    np.testing.assert_allclose(table["geographic_extent"],
                               np.clip(0.8705248236656189 * lung + 3.4137437, 0, 8))
    np.testing.assert_allclose(table["opacity"], np.clip(0.5484423041343689 * lung + 2.5535977, 0, 6))


@pytest.mark.parametrize("name", ["grey.png", "rgb.jpg", "small.png"])
def test_predict_matches_seed_method_on_generated_images(predictor, images, weights_dir, name):
    import torchxrayvision as xrv

    reference_model = xrv.models.DenseNet(weights=WEIGHTS_NAME, cache_dir=str(weights_dir))
    ref = seed_reference(images[name], reference_model)
    table, feats = predictor.predict([images[name]], progress=False, return_features=True)
    assert abs(table["geographic_extent"][0] - ref["geographic_extent"]) < 1e-3
    assert abs(table["opacity"][0] - ref["opacity"]) < 1e-3
    assert 0 < ref["geographic_extent"] < 8  # the test checkpoint keeps scores unclamped
    np.testing.assert_allclose(table[list(OUTPUT_COLUMNS)].to_numpy()[0], ref["outputs"],
                               rtol=1e-3, atol=1e-3)
    assert np.abs(feats[0] - ref["features"]).max() <= 5e-4 * np.abs(ref["features"]).max()


def test_sixteen_bit_png_is_normalised_from_its_bit_depth(predictor, images):
    # wide16 holds grey * 257 (+ noise < 257): the same picture as grey.png on a 16-bit scale.
    table = predictor.predict([images["grey.png"], images["wide16.png"]], progress=False)
    lung = table["xrv:Lung Opacity"].to_numpy()
    assert abs(lung[0] - lung[1]) < 0.05 * (1 + abs(lung[0]))


def test_workers_zero_gives_the_same_numbers(weights_dir, images):
    import torch

    paths = [images["grey.png"], images["rgb.jpg"]]
    threads = torch.get_num_threads()
    a = Predictor(weights_dir=weights_dir, workers=0).predict(paths, progress=False)
    b = Predictor(weights_dir=weights_dir, workers=2, batch_size=1).predict(paths, progress=False)
    assert torch.get_num_threads() == threads  # cores lent to the workers are taken back
    np.testing.assert_allclose(a[list(OUTPUT_COLUMNS)], b[list(OUTPUT_COLUMNS)], rtol=1e-4,
                               atol=1e-4)


@pytest.mark.realdata
def test_dicom_is_normalised_from_its_stored_range(predictor, shared_data):
    from covsev_tools.images.reader import read_xray

    files = sorted((shared_data / "dicom").glob("*.dcm"))
    table = predictor.predict(files, progress=False)
    assert (table["error"] == "").all(), table["error"].tolist()
    for path in files:
        xray = read_xray(path)
        assert xray.array.max() <= xray.max_value
        np.testing.assert_allclose(prepare_image(xray.array, xray.max_value),
                                   _xrv_pipeline(xray.array, xray.max_value), atol=2e-3)


# ----------------------------------------------------------------------------- mapping

def test_paper_mapping_formula_and_clamp():
    outputs = np.zeros((3, 18))
    outputs[:, LUNG_OPACITY] = [-10.0, 0.0, 10.0]
    scores = paper_mapping().apply(outputs)
    np.testing.assert_allclose(scores["geographic_extent"], [0.0, 3.4137437, 8.0])
    np.testing.assert_allclose(scores["opacity"], [0.0, 2.5535977, 6.0])


def test_mapping_json_round_trip_and_errors(tmp_path):
    mapping = SeverityMapping(
        features=["xrv:Pneumonia", "feat:3"],
        targets={"geographic_extent": {"coef": [0.5, -2.0], "intercept": 1.0, "clamp": [0, 8]}},
        n_train=10, provenance={"source": "test"})
    path = mapping.save(tmp_path / "m.json")
    back = SeverityMapping.load(path)
    assert back.to_dict() == mapping.to_dict() and back.needs_features
    outputs, feats = np.ones((2, 18)), np.full((2, 1024), 0.25)
    np.testing.assert_allclose(back.apply(outputs, feats)["geographic_extent"], [1.0, 1.0])
    bad = json.loads(path.read_text())
    bad["targets"]["geographic_extent"]["coef"] = [1.0]
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="bad.json"):
        SeverityMapping.load(tmp_path / "bad.json")


# ----------------------------------------------------------------------------- saliency

def test_saliency_is_the_squared_input_gradient_blurred(predictor, images):
    import skimage.filters
    import torch
    from PIL import Image

    from covsev_tools.model.saliency import saliency_maps, severity_score

    prepared = prepare_image(np.asarray(Image.open(images["grey.png"])), 255)
    x = torch.from_numpy(np.stack([prepared, prepared]))
    x[1] = x[1].flip(-1)
    maps = saliency_maps(predictor.model, x, predictor.mapping)
    single = x[1:2].clone().requires_grad_(True)
    grad = torch.autograd.grad(severity_score(predictor.model, single, predictor.mapping).sum(),
                               single)[0][0, 0].numpy().astype(np.float64)
    expected = skimage.filters.gaussian(grad ** 2, sigma=(5, 5), truncate=3.5)
    assert maps.shape == (2, 224, 224) and (maps >= 0).all() and maps[1].max() > 0
    np.testing.assert_allclose(maps[1], expected, rtol=1e-3, atol=1e-6 * expected.max())


def test_predict_writes_saliency_pngs(predictor, images, tmp_path):
    from PIL import Image

    predictor.predict([images["grey.png"], images["broken.png"]], progress=False,
                      saliency_dir=tmp_path)
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["grey.png.saliency.png"]
    picture = Image.open(tmp_path / written[0])
    assert picture.size == (224, 224) and picture.mode == "RGB"
