"""ImageDataGenerator, flow, flow_from_directory, load_img/img_to_array/array_to_img and
image_dataset_from_directory (Keras's ``keras.preprocessing.image`` and ``keras.utils``)."""

import numpy as np
import pytest

import convnet
from convnet.layers import Dense, Flatten
from convnet.preprocessing.image import ImageDataGenerator
from convnet.utils import array_to_img, image_dataset_from_directory, img_to_array, load_img


def ramp(n=1, h=3, w=4, c=1):
    return np.arange(n * h * w * c, dtype=np.float32).reshape(n, h, w, c)


def test_flow_batches_shapes_dtypes_and_seeded_repeatability():
    gen = ImageDataGenerator(rotation_range=20, width_shift_range=0.2, height_shift_range=0.1,
                             zoom_range=0.2, shear_range=10, horizontal_flip=True)
    x = np.random.default_rng(0).random((10, 6, 5, 3))
    y = np.arange(10)
    batches = [gen.flow(x, y, batch_size=4, seed=7)[i] for i in range(3)]
    assert [b[0].shape for b in batches] == [(4, 6, 5, 3), (4, 6, 5, 3), (2, 6, 5, 3)]
    assert all(b[0].dtype == np.float32 for b in batches)
    assert sorted(np.concatenate([b[1] for b in batches])) == list(range(10))   # each once
    again = gen.flow(x, y, batch_size=4, seed=7)
    for i in (2, 0, 1):                               # the same batches, in any order
        np.testing.assert_array_equal(again[i][0], batches[i][0])
        np.testing.assert_array_equal(again[i][1], batches[i][1])
    other = gen.flow(x, y, batch_size=4, seed=8)[0][0]
    assert not np.array_equal(other, batches[0][0])
    assert len(gen.flow(x, y, batch_size=4)) == 3
    assert isinstance(gen.flow(x, batch_size=4), convnet.utils.Sequence)
    only_x = gen.flow(x, batch_size=4, seed=1)[0]
    assert isinstance(only_x, np.ndarray) and only_x.shape == (4, 6, 5, 3)


def test_next_loops_forever_and_reshuffles_per_epoch():
    it = ImageDataGenerator().flow(ramp(5), np.arange(5), batch_size=2, seed=3)
    firsts = [next(it)[1] for _ in range(6)]          # 3 batches per pass, two passes
    assert sorted(np.concatenate(firsts[:3])) == list(range(5))
    assert sorted(np.concatenate(firsts[3:])) == list(range(5))


def test_horizontal_and_vertical_flip_by_hand():
    img = ramp()[0]
    gen = ImageDataGenerator()
    np.testing.assert_array_equal(gen.apply_transform(img, {"flip_horizontal": True}),
                                  img[:, ::-1])
    np.testing.assert_array_equal(gen.apply_transform(img, {"flip_vertical": True}),
                                  img[::-1])
    first = ImageDataGenerator(data_format="channels_first")       # (channels, rows, cols)
    chw = ramp(c=2)[0].transpose(2, 0, 1)
    np.testing.assert_array_equal(first.apply_transform(chw, {"flip_horizontal": True}),
                                  chw[:, :, ::-1])
    np.testing.assert_allclose(first.apply_transform(chw, {"ty": 1})[:, :, :-1],
                               chw[:, :, 1:], atol=1e-6)
    flips = ImageDataGenerator(horizontal_flip=True).flow(ramp(40), batch_size=40,
                                                          shuffle=False, seed=0)[0]
    same = [np.array_equal(f, i) for f, i in zip(flips, ramp(40))]
    mirrored = [np.array_equal(f, i[:, ::-1]) for f, i in zip(flips, ramp(40))]
    assert all(a or b for a, b in zip(same, mirrored)) and 5 < sum(mirrored) < 35


def test_one_pixel_shift_with_constant_fill_by_hand():
    img = ramp()[0]                                     # rows 0..3, 4..7, 8..11
    gen = ImageDataGenerator(fill_mode="constant", cval=-1)
    left = gen.apply_transform(img, {"ty": 1})          # reads one column to the right
    expected = np.concatenate([img[:, 1:], np.full((3, 1, 1), -1.0)], axis=1)
    np.testing.assert_allclose(left, expected, atol=1e-6)
    down = gen.apply_transform(img, {"tx": -1})         # reads one row up: moves down
    expected = np.concatenate([np.full((1, 4, 1), -1.0), img[:-1]], axis=0)
    np.testing.assert_allclose(down, expected, atol=1e-6)
    # width_shift_range=[1]: exactly one pixel, either way
    shifted = ImageDataGenerator(width_shift_range=[1], fill_mode="constant", cval=-1).flow(
        np.repeat(ramp(), 20, axis=0), batch_size=20, shuffle=False, seed=0)[0]
    right = np.concatenate([np.full((3, 1, 1), -1.0), img[:, :-1]], axis=1)
    lefts = [np.allclose(s, left) for s in shifted]
    rights = [np.allclose(s, right) for s in shifted]
    assert all(a or b for a, b in zip(lefts, rights)) and 3 < sum(lefts) < 17


def test_rotation_and_zoom_by_hand():
    img = ramp(h=3, w=3)[0]
    gen = ImageDataGenerator(fill_mode="constant")
    # positive theta turns the picture clockwise (tf-keras's matrix), about the true centre
    np.testing.assert_allclose(gen.apply_transform(img, {"theta": 90}),
                               np.rot90(img, -1), atol=1e-5)
    # zoom 0.5 about the centre: the output samples half the extent (zooms in), bilinear
    zoomed = gen.apply_transform(img, {"zx": 0.5, "zy": 0.5})
    centre = img[1, 1, 0]
    assert zoomed[1, 1, 0] == pytest.approx(centre)
    assert zoomed[0, 0, 0] == pytest.approx((img[0, 0, 0] + img[0, 1, 0] + img[1, 0, 0]
                                             + centre) / 4)


def test_rescale_samplewise_and_featurewise_normalisation():
    x = np.random.default_rng(1).random((6, 4, 4, 3)) * 255
    out = ImageDataGenerator(rescale=1 / 255, samplewise_center=True,
                             samplewise_std_normalization=True).flow(
        x, batch_size=6, shuffle=False)[0]
    np.testing.assert_allclose(out.mean(axis=(1, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(1, 2, 3)), 1, atol=1e-3)
    gen = ImageDataGenerator(featurewise_center=True, featurewise_std_normalization=True)
    with pytest.warns(UserWarning, match="hasn't been fit"):
        gen.flow(x, batch_size=6)[0]
    gen.fit(x)
    out = gen.flow(x, batch_size=6, shuffle=False)[0]
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(out.std(axis=(0, 1, 2)), 1, atol=1e-3)


def test_validation_split_subsets():
    x, y = ramp(10), np.array([0, 1] * 5)
    gen = ImageDataGenerator(validation_split=0.2)
    val = gen.flow(x, y, batch_size=10, shuffle=False, subset="validation")[0]
    train = gen.flow(x, y, batch_size=10, shuffle=False, subset="training")[0]
    np.testing.assert_array_equal(val[0], x[:2])
    np.testing.assert_array_equal(train[0], x[2:])
    with pytest.raises(ValueError, match="subset"):
        ImageDataGenerator().flow(x, y, subset="validation")
    with pytest.raises(ValueError, match="subset must be"):
        gen.flow(x, y, subset="test")


def test_fit_on_a_flow_for_one_epoch():
    convnet.utils.set_random_seed(0)
    x = np.random.default_rng(2).random((16, 6, 6, 1)).astype(np.float32)
    y = convnet.utils.to_categorical(np.arange(16) % 2, 2)
    model = convnet.Sequential([Flatten(input_shape=(6, 6, 1)), Dense(2, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="sgd", metrics=["accuracy"])
    gen = ImageDataGenerator(rotation_range=10, width_shift_range=0.1, horizontal_flip=True)
    history = model.fit(gen.flow(x, y, batch_size=8, seed=0), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_bad_inputs_name_the_problem(tmp_path):
    gen = ImageDataGenerator()
    with pytest.raises(ValueError, match=r"rank 4.*\(5, 3, 4\).*x\[\.\.\., None\]"):
        gen.flow(np.zeros((5, 3, 4)))
    with pytest.raises(ValueError, match="same length"):
        gen.flow(ramp(3), np.arange(4))
    with pytest.raises(ValueError, match="fill_mode"):
        ImageDataGenerator(fill_mode="mirror")
    with pytest.raises(ValueError, match="zoom_range"):
        ImageDataGenerator(zoom_range=[0.5, 1, 2])
    with pytest.raises(ValueError, match="batch_size"):
        gen.flow(ramp(3), batch_size=0)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        gen.flow_from_directory(tmp_path / "missing")
    with pytest.raises(ValueError, match="no images found"):
        gen.flow_from_directory(tmp_path)
    with pytest.raises(ValueError, match="unknown class_mode 'multi'"):
        gen.flow_from_directory(tmp_path, class_mode="multi")
    with pytest.raises(IndexError, match="batch 5"):
        gen.flow(ramp(3), batch_size=2)[5]


@pytest.fixture
def picture_folder(tmp_path):
    """Two classes, three 6x5 pictures each: 'cat' pictures dark, 'dog' pictures bright."""
    rng = np.random.default_rng(3)
    for label, level in (("cat", 40), ("dog", 200)):
        (tmp_path / label).mkdir()
        for i in range(3):
            pixels = np.clip(level + rng.integers(-20, 20, (6, 5, 3)), 0, 255)
            array_to_img(pixels, scale=False).save(tmp_path / label / f"{i}.png")
    (tmp_path / "cat" / "notes.txt").write_text("not a picture")
    return tmp_path


def test_flow_from_directory(picture_folder, capsys):
    gen = ImageDataGenerator(rescale=1 / 255)
    it = gen.flow_from_directory(picture_folder, target_size=(4, 4), batch_size=4, seed=0)
    assert "Found 6 images belonging to 2 classes." in capsys.readouterr().out
    assert it.class_indices == {"cat": 0, "dog": 1}
    assert list(it.classes) == [0, 0, 0, 1, 1, 1] and len(it) == 2
    x, y = it[0]
    assert x.shape == (4, 4, 4, 3) and x.dtype == np.float32 and y.shape == (4, 2)
    for img, onehot in zip(x, y):                     # dark pictures are cats
        assert (img.mean() < 0.5) == (onehot[0] == 1)
    x, y = gen.flow_from_directory(picture_folder, target_size=(6, 5), color_mode="grayscale",
                                   class_mode="sparse", batch_size=6, shuffle=False)[0]
    assert x.shape == (6, 6, 5, 1) and list(y) == [0, 0, 0, 1, 1, 1]
    x = gen.flow_from_directory(picture_folder, target_size=(3, 3), class_mode=None,
                                batch_size=6)[0]
    assert isinstance(x, np.ndarray) and x.shape == (6, 3, 3, 3)
    split = ImageDataGenerator(validation_split=1 / 3).flow_from_directory(
        picture_folder, target_size=(3, 3), subset="validation")
    assert [f.split("/")[-1] for f in split.filenames] == ["0.png", "0.png"]
    model = convnet.Sequential([Flatten(input_shape=(4, 4, 3)), Dense(2, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="sgd")
    model.fit(gen.flow_from_directory(picture_folder, target_size=(4, 4), batch_size=3),
              epochs=1, verbose=0)


def test_load_img_img_to_array_array_to_img(picture_folder):
    img = load_img(picture_folder / "dog" / "0.png")
    assert img.size == (5, 6) and img.mode == "RGB"
    x = img_to_array(img)
    assert x.shape == (6, 5, 3) and x.dtype == np.float32 and 150 < x.mean() < 250
    small = img_to_array(load_img(picture_folder / "dog" / "0.png", color_mode="grayscale",
                                  target_size=(3, 2)))
    assert small.shape == (3, 2, 1)
    back = img_to_array(array_to_img(x, scale=False))
    np.testing.assert_array_equal(back, x)
    scaled = img_to_array(array_to_img(np.array([[[0.0], [0.5], [1.0]]])))
    np.testing.assert_array_equal(scaled[0, :, 0], [0, 128, 255])
    with pytest.raises(FileNotFoundError, match="nope.png"):
        load_img(picture_folder / "nope.png")
    with pytest.raises(ValueError, match="not a readable image"):
        load_img(picture_folder / "cat" / "notes.txt")
    with pytest.raises(ValueError, match="rank 3"):
        array_to_img(np.zeros((2, 2)))


def test_image_dataset_from_directory(picture_folder, capsys):
    ds = image_dataset_from_directory(picture_folder, image_size=(4, 4), batch_size=4, seed=1)
    assert "Found 6 files belonging to 2 classes." in capsys.readouterr().out
    assert ds.class_names == ["cat", "dog"] and len(ds) == 2
    batches = list(ds)
    x, y = batches[0]
    assert x.shape == (4, 4, 4, 3) and x.dtype == np.float32 and y.dtype == np.int32
    assert sorted(np.concatenate([b[1] for b in batches])) == [0, 0, 0, 1, 1, 1]
    for img, label in zip(x, y):
        assert (img.mean() < 128) == (label == 0)
    (images, labels), = ds.take(1)
    assert images.shape[1:] == (4, 4, 3)
    train, val = image_dataset_from_directory(picture_folder, image_size=(4, 4), seed=5,
                                              validation_split=0.5, subset="both",
                                              label_mode="categorical")
    assert not set(train.file_paths) & set(val.file_paths)
    assert len(train.file_paths) == len(val.file_paths) == 3
    assert train[0][1].shape[1] == 2
    model = convnet.Sequential([Flatten(input_shape=(4, 4, 3)), Dense(2, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
    model.fit(ds, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="seed"):
        image_dataset_from_directory(picture_folder, validation_split=0.5, subset="training")
    with pytest.raises(ValueError, match="label_mode"):
        image_dataset_from_directory(picture_folder, label_mode="sparse")
    with pytest.raises(FileNotFoundError, match="no such folder"):
        image_dataset_from_directory(picture_folder / "missing")
