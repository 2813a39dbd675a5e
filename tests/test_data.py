"""Tests for course.data: generated scenes, shipped digits and photos, joint augmentation."""
from __future__ import annotations

import colorsys
import pathlib

import pytest
import torch
import torchvision
from torchvision.transforms import v2

from course.data import (
    AugmentedDataset,
    DigitsClassification,
    MasksToBoxes,
    ShapesDataset,
    apply_joint_transform,
    detection_augmentation,
    digits,
    list_photos,
    load_digits,
    photo_path,
    photos,
    sample_photo,
    segmentation_augmentation,
    shapes,
    split_indices,
)
from course.data._scene import Layers, RandomStream, make_generator, pick_color, tight_boxes


@pytest.fixture(scope="module")
def digits_loaded():
    return load_digits()


def collate_detection(batch):
    """Detection targets have a different number of boxes per image: keep them in lists."""
    return tuple(zip(*batch, strict=True))


def check_scene_consistency(image, semantic, boxes, labels, masks, num_classes):
    """Everything the instance annotations promise about a scene, as assertions."""
    height, width = semantic.shape
    assert image.shape == (3, height, width) and image.dtype == torch.float32
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
    assert semantic.dtype == torch.int64
    assert 0 <= int(semantic.min()) and int(semantic.max()) <= num_classes
    k = len(labels)
    assert k >= 1
    assert boxes.shape == (k, 4) and boxes.dtype == torch.float32
    assert labels.dtype == torch.int64 and ((labels >= 1) & (labels <= num_classes)).all()
    assert masks.shape == (k, height, width) and masks.dtype == torch.bool
    # Visible masks: non-empty, disjoint, their union is the foreground, each carries its label.
    assert masks.any(dim=(1, 2)).all()
    assert int(masks.sum(dim=0).max()) <= 1
    assert torch.equal(masks.any(dim=0), semantic > 0)
    for mask, label in zip(masks, labels, strict=True):
        assert (semantic[mask] == label).all()
    # Tight boxes. torchvision's masks_to_boxes puts x2 on the last pixel (index),
    # ours on the far edge of that pixel (continuous coordinates), hence + 1.
    expected = torchvision.ops.masks_to_boxes(masks) + torch.tensor([0.0, 0.0, 1.0, 1.0])
    torch.testing.assert_close(boxes, expected, rtol=0, atol=0)
    assert ((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])).all()


# --------------------------------------------------------------------------
# Docstrings and shared pieces
# --------------------------------------------------------------------------

def test_tight_boxes_against_torchvision():
    g = torch.Generator().manual_seed(0)
    masks = torch.rand(50, 9, 13, generator=g) > 0.9
    masks = masks[masks.any(dim=(1, 2))]
    expected = torchvision.ops.masks_to_boxes(masks) + torch.tensor([0.0, 0.0, 1.0, 1.0])
    torch.testing.assert_close(tight_boxes(masks), expected, rtol=0, atol=0)
    assert tight_boxes(torch.zeros(2, 4, 4, dtype=torch.bool)).eq(0).all()
    assert tight_boxes(torch.zeros(0, 4, 4, dtype=torch.bool)).shape == (0, 4)


def test_layers_refuse_to_hide_too_much():
    layers = Layers(10, 10)
    big = torch.zeros(10, 10, dtype=torch.bool)
    big[2:8, 2:8] = True                                   # 36 pixels
    cover = torch.zeros(10, 10, dtype=torch.bool)
    cover[2:8, 2:5] = True                                 # would hide 18 of them (50 %)
    assert layers.paint(big, 1)
    assert not layers.paint(cover, 2, max_occlusion=0.4)
    assert layers.paint(cover, 2, max_occlusion=0.5)
    assert not layers.paint(torch.zeros(10, 10, dtype=torch.bool), 3)   # empty: never painted
    semantic, masks, labels, boxes = layers.result()
    assert labels.tolist() == [1, 2]
    assert masks.sum(dim=(1, 2)).tolist() == [18, 18]
    assert boxes.tolist() == [[5, 2, 8, 8], [2, 2, 5, 8]]


def test_pick_color_needs_at_least_one_try():
    stream = RandomStream(make_generator(0, 1))
    assert len(pick_color(stream, 3, [[0.5, 0.5, 0.5]], tries=1)) == 3
    with pytest.raises(ValueError, match="tries must be an int >= 1, got 0"):
        pick_color(stream, 3, [[0.5, 0.5, 0.5]], tries=0)     # used to return None


# --------------------------------------------------------------------------
# Shapes
# --------------------------------------------------------------------------

def test_shapes_items_are_deterministic_and_random_access():
    a = ShapesDataset(50, 32, seed=7)
    b = ShapesDataset(50, 32, seed=7)
    later_first = b[9]
    for i in (0, 9, 49):
        ia, ma = a[i]
        ib, mb = b[i]
        assert torch.equal(ia, ib) and torch.equal(ma, mb)
    assert torch.equal(later_first[0], a[9][0])
    assert torch.equal(a[-1][0], a[49][0])
    other = ShapesDataset(50, 32, seed=8)
    assert not torch.equal(a[0][0], other[0][0])
    assert not torch.equal(a[0][0], a[1][0])


def test_shapes_do_not_touch_the_global_rng():
    torch.manual_seed(123)
    state = torch.get_rng_state()
    ShapesDataset(5, 32, task="detection")[3]
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize("image_size, num_classes", [(64, 3), (32, 7), (48, 1)])
def test_shapes_segmentation_items(image_size, num_classes):
    data = ShapesDataset(20, image_size, num_classes=num_classes, seed=1)
    assert len(data) == 20
    assert data.class_names == ("background",) + shapes.SHAPE_KINDS[:num_classes]
    for i in range(len(data)):
        image, mask = data[i]
        assert image.shape == (3, image_size, image_size) and image.dtype == torch.float32
        assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
        assert mask.shape == (image_size, image_size) and mask.dtype == torch.int64
        assert 0 <= int(mask.min()) and int(mask.max()) <= num_classes
        assert (mask > 0).any()


@pytest.mark.parametrize("num_classes", [3, 7])
def test_shapes_instances_agree_with_the_label_map(num_classes):
    seg = ShapesDataset(60, 64, num_classes=num_classes, seed=2)
    det = ShapesDataset(60, 64, num_classes=num_classes, seed=2, task="detection")
    occluded = 0
    for i in range(len(det)):
        image, target = det[i]
        scene = det.scene(i)
        semantic = seg[i][1]
        assert torch.equal(scene["mask"], semantic) and torch.equal(scene["image"], image)
        assert sorted(target) == ["boxes", "labels", "masks"]
        for key in target:
            assert torch.equal(target[key], scene[key])
        check_scene_consistency(image, semantic, target["boxes"], target["labels"], target["masks"], num_classes)
        # Two boxes overlapping while their masks are disjoint: one shape hides part of another.
        iou = torchvision.ops.box_iou(target["boxes"], target["boxes"]).fill_diagonal_(0)
        occluded += int((iou > 0.05).any())
    assert occluded >= 3, "occlusion should happen in some scenes"


def test_shapes_visible_masks_match_the_painted_pixels():
    """Without noise each shape is one flat color: the visible mask must select exactly one color."""
    data = ShapesDataset(40, 64, num_classes=7, noise=0.0, seed=3)
    for i in range(len(data)):
        scene = data.scene(i)
        for mask in scene["masks"]:
            pixels = scene["image"][:, mask]                         # (3, n)
            assert torch.equal(pixels.amin(dim=1), pixels.amax(dim=1))


def test_class_colors_give_the_class_away():
    data = ShapesDataset(30, 48, num_classes=7, color="class", noise=0.0, seed=13)
    for i in range(len(data)):
        scene = data.scene(i)
        for mask, label in zip(scene["masks"], scene["labels"], strict=True):
            red, green, blue = scene["image"][:, mask][:, 0].tolist()
            hue = colorsys.rgb_to_hsv(red, green, blue)[0]
            offset = abs(hue - (int(label) - 1) / 7)
            assert min(offset, 1 - offset) <= 0.2 / 7 + 1e-4
        background = scene["image"][:, scene["mask"] == 0]            # grey: R = G = B
        assert torch.equal(background[0], background[1]) and torch.equal(background[1], background[2])
    assert ShapesDataset(1).color == "class"
    random_colors = ShapesDataset(30, 48, color="random", seed=13)
    assert not torch.equal(random_colors[0][0], data[0][0])


def test_shapes_every_class_appears():
    data = ShapesDataset(200, 48, num_classes=7, task="detection", seed=4)
    counts = torch.bincount(torch.cat([data[i][1]["labels"] for i in range(len(data))]), minlength=8)
    assert counts[0] == 0
    expected = counts.sum() / 7
    assert (counts[1:] > 0.6 * expected).all(), counts.tolist()
    assert (counts[1:] < 1.4 * expected).all(), counts.tolist()


def test_shapes_size_range_is_respected():
    data = ShapesDataset(40, 64, num_classes=2, max_shapes=1, min_size=20, max_size=22, seed=5, task="detection")
    for i in range(len(data)):
        box = data[i][1]["boxes"][0]
        width, height = float(box[2] - box[0]), float(box[3] - box[1])
        assert max(width, height) <= 22 + 1     # a shape lies inside its enclosing circle
        assert max(width, height) >= 20 / 2 ** 0.5 - 1


@pytest.mark.parametrize("num_workers", [0, 2])
def test_shapes_with_a_dataloader(num_workers):
    seg = ShapesDataset(12, 32, seed=6)
    batches = list(torch.utils.data.DataLoader(seg, batch_size=4, num_workers=num_workers))
    images = torch.cat([b[0] for b in batches])
    masks = torch.cat([b[1] for b in batches])
    assert images.shape == (12, 3, 32, 32) and masks.shape == (12, 32, 32) and masks.dtype == torch.int64
    assert torch.equal(images, torch.stack([seg[i][0] for i in range(12)]))
    det = ShapesDataset(8, 32, seed=6, task="detection", transform=detection_augmentation(24))
    images, targets = next(iter(torch.utils.data.DataLoader(
        det, batch_size=8, num_workers=num_workers, collate_fn=collate_detection)))
    for i in range(8):
        assert torch.equal(images[i], det[i][0])
        assert torch.equal(targets[i]["boxes"], det[i][1]["boxes"])


# --------------------------------------------------------------------------
# Digits
# --------------------------------------------------------------------------

def test_load_digits(digits_loaded):
    images, labels = digits_loaded
    assert images.shape == (1797, 8, 8) and images.dtype == torch.float32
    assert labels.shape == (1797,) and labels.dtype == torch.int64
    assert float(images.min()) == 0.0 and float(images.max()) == 1.0
    assert labels.bincount().tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    # The file really is scikit-learn's, read from the installed wheel.
    import sklearn
    from sklearn.datasets import load_digits as sklearn_load_digits
    assert torch.equal(images * 16, torch.as_tensor(sklearn_load_digits().images, dtype=torch.float32))
    shipped = pathlib.Path(sklearn.__file__).parent / "datasets" / "data" / "digits.csv.gz"
    assert shipped.is_file()


def test_split_is_stratified_disjoint_and_seeded():
    train, test = split_indices("train"), split_indices("test")
    assert len(set(train.tolist()) & set(test.tolist())) == 0
    assert sorted(train.tolist() + test.tolist()) == list(range(1797))
    _, labels = load_digits()
    share = labels[test].bincount(minlength=10) / labels.bincount(minlength=10)
    assert ((share - 0.2).abs() < 0.01).all()
    assert torch.equal(split_indices("test", seed=0), test)
    assert not torch.equal(split_indices("test", seed=1), test)
    assert len(split_indices("test", test_fraction=0.5)) in range(890, 910)


def test_digits_classification_items(digits_loaded):
    images, labels = digits_loaded
    train = DigitsClassification("train", image_size=28)
    test = DigitsClassification("test", image_size=28)
    assert len(train) + len(test) == 1797
    image, label = train[0]
    assert image.shape == (1, 28, 28) and image.dtype == torch.float32 and isinstance(label, int)
    assert 0.0 <= float(train.images.min()) and float(train.images.max()) <= 1.0
    assert train.images.shape == (len(train), 1, 28, 28) and train.labels.dtype == torch.int64
    # The images are the shipped digits, upscaled bilinearly; at size 8 they are the originals.
    original = DigitsClassification("test", image_size=8)
    assert torch.equal(original.images[:, 0], images[original.indices])
    assert torch.equal(original.labels, labels[original.indices])
    upscaled = torch.nn.functional.interpolate(original.images[:5], size=(28, 28), mode="bilinear",
                                               align_corners=False)
    torch.testing.assert_close(test.images[:5], upscaled)
    assert test[-1][1] == int(test.labels[-1])


def test_digits_classification_with_a_dataloader():
    data = DigitsClassification("test", image_size=16)
    images, labels = next(iter(torch.utils.data.DataLoader(data, batch_size=10, shuffle=False)))
    assert images.shape == (10, 1, 16, 16) and labels.dtype == torch.int64
    assert torch.equal(labels, data.labels[:10])


# --------------------------------------------------------------------------
# Photos
# --------------------------------------------------------------------------

def test_photos_ship_inside_installed_packages():
    import matplotlib
    import sklearn

    assert list_photos() == ("china", "flower", "grace_hopper")
    owners = {"china": sklearn, "flower": sklearn, "grace_hopper": matplotlib}
    for name, package in owners.items():
        path = photo_path(name)
        assert path.is_file()
        assert path.is_relative_to(pathlib.Path(package.__file__).parent)
        assert "site-packages" in path.parts or "dist-packages" in path.parts


def test_photos_values_and_sizes():
    full = {name: sample_photo(name) for name in list_photos()}
    assert full["china"].shape == (3, 427, 640) and full["grace_hopper"].shape == (3, 600, 512)
    for photo in full.values():
        assert photo.dtype == torch.float32
        assert 0.0 <= float(photo.min()) and float(photo.max()) <= 1.0 and float(photo.std()) > 0.1
    small = [sample_photo(name, size=64) for name in list_photos()]
    assert all(p.shape == (3, 64, 64) for p in small)
    assert (small[0] - small[1]).abs().mean() > 0.1 and (small[1] - small[2]).abs().mean() > 0.1
    assert sample_photo("flower", size=(40, 60)).shape == (3, 40, 60)
    # A copy each time: changing it does not change the next one.
    first = sample_photo("china")
    first.zero_()
    assert float(sample_photo("china").max()) > 0


# --------------------------------------------------------------------------
# No network
# --------------------------------------------------------------------------

def test_nothing_touches_the_network(monkeypatch):
    """With every socket connection failing, the digits, the photos and all datasets still load.

    The in-memory caches are cleared first, so the files are really read again.
    """
    import socket

    def refuse(*args, **kwargs):
        raise OSError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    with pytest.raises(OSError, match="network access attempted"):
        socket.create_connection(("example.com", 80))          # the guard is active
    digits._load_digits_cached.cache_clear()
    photos._decode.cache_clear()

    images, labels = load_digits()
    assert images.shape == (1797, 8, 8)
    DigitsClassification("train")[0]
    ShapesDataset(3, 32, transform=segmentation_augmentation(24))[0]
    ShapesDataset(3, 32, task="detection", transform=detection_augmentation(24))[0]
    for name in list_photos():
        assert sample_photo(name, size=32).shape == (3, 32, 32)


# --------------------------------------------------------------------------
# Joint augmentation
# --------------------------------------------------------------------------

def test_horizontal_flip_moves_image_and_mask_together():
    data = ShapesDataset(10, 32, seed=9)
    flipped = ShapesDataset(10, 32, seed=9, transform=v2.RandomHorizontalFlip(p=1.0))
    for i in range(3):
        image, mask = data[i]
        f_image, f_mask = flipped[i]
        assert torch.equal(f_image, image.flip(-1)) and torch.equal(f_mask, mask.flip(-1))
        rows, cols = (mask > 0).nonzero(as_tuple=True)
        r, c = int(rows[0]), int(cols[0])
        assert f_mask[r, 31 - c] == mask[r, c]
        assert torch.equal(f_image[:, r, 31 - c], image[:, r, c])


def test_why_we_wrap_plain_tensors_leave_the_mask_behind():
    """The pitfall the module docstring describes: v2 flips only the first plain tensor."""
    image, mask = ShapesDataset(1, 32, seed=9)[0]
    flip = v2.RandomHorizontalFlip(p=1.0)
    naive_image, naive_mask = flip(image, mask)
    assert torch.equal(naive_image, image.flip(-1)) and torch.equal(naive_mask, mask)   # mask not flipped!
    wrapped_image, wrapped_mask = apply_joint_transform(flip, image, mask)
    assert torch.equal(wrapped_mask, mask.flip(-1))


def test_horizontal_flip_moves_boxes():
    data = ShapesDataset(5, 32, seed=9, task="detection")
    flipped = ShapesDataset(5, 32, seed=9, task="detection", transform=v2.RandomHorizontalFlip(p=1.0))
    for i in range(3):
        boxes, f_boxes = data[i][1]["boxes"], flipped[i][1]["boxes"]
        assert type(f_boxes) is torch.Tensor               # plain tensors again, not tv_tensors
        expected = torch.stack([32 - boxes[:, 2], boxes[:, 1], 32 - boxes[:, 0], boxes[:, 3]], dim=1)
        torch.testing.assert_close(f_boxes, expected)
        assert torch.equal(flipped[i][1]["masks"], data[i][1]["masks"].flip(-1))


def test_segmentation_augmentation_keeps_labels_valid():
    aug = segmentation_augmentation(40, scale=(0.3, 1.0), degrees=30, color_jitter=0.2)
    plain = ShapesDataset(30, 64, num_classes=5, seed=10)
    data = ShapesDataset(30, 64, num_classes=5, seed=10, transform=aug)
    for i in range(len(data)):
        image, mask = data[i]
        assert image.shape == (3, 40, 40) and image.dtype == torch.float32
        assert mask.shape == (40, 40) and mask.dtype == torch.int64
        # Nearest interpolation: no new labels appear (0 is the fill of rotated corners).
        assert set(mask.unique().tolist()) <= set(plain[i][1].unique().tolist()) | {0}


def test_detection_augmentation_keeps_boxes_tight():
    aug = detection_augmentation(48, scale=(0.3, 1.0), degrees=25)
    data = ShapesDataset(20, 64, num_classes=7, task="detection", seed=11, transform=aug)
    for i in range(len(data)):
        image, target = data[i]
        boxes, labels, masks = target["boxes"], target["labels"], target["masks"]
        assert image.shape[-2:] == (48, 48) and masks.shape[-2:] == (48, 48)
        assert len(boxes) == len(labels) == len(masks)
        assert masks.dtype == torch.bool and labels.dtype == torch.int64
        if len(boxes) == 0:
            continue
        assert ((boxes[:, 2] - boxes[:, 0] >= 2) & (boxes[:, 3] - boxes[:, 1] >= 2)).all()
        tight = torchvision.ops.masks_to_boxes(masks) + torch.tensor([0.0, 0.0, 1.0, 1.0])
        assert (boxes - tight).abs().max() <= 1.0


def test_v2_boxes_alone_are_loose_after_rotation_and_masks_to_boxes_fixes_them():
    """Why MasksToBoxes exists: v2 rotates a box's corners, which encloses the object but loosely."""
    image, target = ShapesDataset(1, 64, task="detection", max_shapes=1, num_classes=1, seed=0)[0]
    rotate = v2.RandomRotation((45, 45))
    _, rotated = apply_joint_transform(rotate, image, target)
    tight = tight_boxes(rotated["masks"])
    assert (rotated["boxes"][:, 2:] - rotated["boxes"][:, :2] > tight[:, 2:] - tight[:, :2] + 2).all()
    _, fixed = apply_joint_transform(v2.Compose([rotate, MasksToBoxes()]), image, target)
    assert torch.equal(fixed["boxes"], tight)


def test_augmentation_is_reproducible_and_leaves_the_global_rng_alone():
    aug = segmentation_augmentation(32, degrees=20)
    a = ShapesDataset(10, 48, seed=12, transform=aug)
    b = ShapesDataset(10, 48, seed=12, transform=aug)
    torch.manual_seed(0)
    state = torch.get_rng_state()
    first = a[4]
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(1)                                   # the global seed does not matter
    assert torch.equal(b[4][0], first[0]) and torch.equal(b[4][1], first[1])
    b.set_epoch(1)
    assert not torch.equal(b[4][0], first[0])
    b.set_epoch(0)
    assert torch.equal(b[4][0], first[0])


def test_augmented_dataset_wraps_any_dataset():
    base = DigitsClassification("test", image_size=16)
    wrapped = AugmentedDataset(base, v2.RandomResizedCrop(12, antialias=True), seed=3)
    image, label = wrapped[5]
    assert image.shape == (1, 12, 12) and label == base[5][1]
    assert torch.equal(wrapped[5][0], image)
    wrapped.set_epoch(2)
    assert not torch.equal(wrapped[5][0], image)
    assert len(wrapped) == len(base)


# --------------------------------------------------------------------------
# Bad input: the message names the argument and shows the value
# --------------------------------------------------------------------------

@pytest.mark.parametrize("make, error, match", [
    (lambda: ShapesDataset(0), ValueError, r"num_samples must be an int >= 1, got 0"),
    (lambda: ShapesDataset(1.5), TypeError, r"num_samples must be an int, got float 1.5"),
    (lambda: ShapesDataset(10, image_size=8), ValueError, r"image_size must be an int >= 16, got 8"),
    (lambda: ShapesDataset(10, num_classes=9), ValueError, r"num_classes must be an int between 1 and 7 .*got 9"),
    (lambda: ShapesDataset(10, num_classes=0), ValueError, r"num_classes must be an int >= 1, got 0"),
    (lambda: ShapesDataset(10, task="classification"), ValueError,
     r"task must be one of 'segmentation', 'detection', got 'classification'"),
    (lambda: ShapesDataset(10, color="rainbow"), ValueError, r"color must be one of 'class', 'random', got 'rainbow'"),
    (lambda: ShapesDataset(10, 32, max_size=40), ValueError, r"max_size must be <= image_size \(32\), got 40"),
    (lambda: ShapesDataset(10, min_size=3), ValueError, r"min_size must be a number >= 6.0, got 3"),
    (lambda: ShapesDataset(10, max_occlusion=1.0), ValueError, r"max_occlusion must be a number in \[0, 1\), got 1.0"),
    (lambda: ShapesDataset(10, transform="flip"), TypeError, r"transform must be callable or None, got str 'flip'"),
    (lambda: ShapesDataset(10)[10], IndexError, r"index must be in \[-10, 10\), got 10"),
    (lambda: DigitsClassification("validation"), ValueError, r"split must be one of 'train', 'test', got 'validation'"),
    (lambda: DigitsClassification("train", image_size=4), ValueError, r"image_size must be an int >= 8, got 4"),
    (lambda: split_indices("test", test_fraction=1.0), ValueError,
     r"test_fraction must be a number in \(0, 1\), got 1.0"),
    (lambda: sample_photo("lena"), ValueError, r"name must be one of 'china', 'flower', 'grace_hopper', got 'lena'"),
    (lambda: sample_photo("china", size=0), ValueError, r"size must be an int >= 1, got 0"),
    (lambda: segmentation_augmentation(32, scale=(0.5, 2.0)), ValueError, r"scale must satisfy .*got \(0.5, 2.0\)"),
    (lambda: segmentation_augmentation(32, hflip=1.5), ValueError, r"hflip must be a probability in \[0, 1\], got 1.5"),
    (lambda: apply_joint_transform(None, torch.zeros(3, 4, 4), None), TypeError, r"transform must be callable"),
    (lambda: apply_joint_transform(lambda image, target: image, torch.zeros(3, 4, 4), None), TypeError,
     r"transform must return a pair \(image, target\), got Image"),
    (lambda: apply_joint_transform(v2.Identity(), torch.zeros(4, 4), None), ValueError,
     r"image must be a 3-D tensor, got shape \(4, 4\)"),
])
def test_bad_input_is_reported(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_in_memory_stacks_every_item_once():
    from torch.utils.data import TensorDataset

    from course.data import in_memory

    dataset = ShapesDataset(6, image_size=32, num_classes=3, seed=4)
    data = in_memory(dataset)
    assert isinstance(data, TensorDataset) and len(data) == 6
    for i in range(6):
        image, label_map = dataset[i]
        assert torch.equal(data[i][0], image) and torch.equal(data[i][1], label_map)
    with pytest.raises(ValueError, match="dataset items must be \\(input, target\\) pairs"):
        in_memory(ShapesDataset(2, image_size=32, task="detection", seed=0))
    with pytest.raises(TypeError, match="dataset must be a map-style dataset"):
        in_memory(42)
