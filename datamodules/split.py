"""Helpers shared by the datamodules: class subsets, stratified splits, shift augmentation."""
import torch


def check_classes(owner, classes, num_classes):
    """The class list to keep: all classes when None, else a non-empty list of distinct valid labels."""
    if classes is None:
        return list(range(num_classes))
    if not isinstance(classes, (list, tuple)) or len(classes) == 0:
        raise ValueError(f"{owner}: classes must be a non-empty list of labels in 0..{num_classes - 1}, got {classes!r}")
    for label in classes:
        if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < num_classes:
            raise ValueError(f"{owner}: classes holds {label!r}; expected labels in 0..{num_classes - 1}")
    if len(set(classes)) != len(classes):
        raise ValueError(f"{owner}: classes must not repeat a label, got {list(classes)}")
    if len(classes) < 2:
        raise ValueError(f"{owner}: classes needs at least two labels to classify, got {list(classes)}")
    return list(classes)


def keep_classes(inputs, targets, classes):
    """The samples of ``classes`` only, relabelled 0..k-1 in the order given."""
    keep = torch.isin(targets, torch.tensor(classes))
    relabel = torch.full((int(targets.max()) + 1,), -1, dtype=torch.long)
    relabel[torch.tensor(classes)] = torch.arange(len(classes))
    return inputs[keep], relabel[targets[keep]]


def stratified_split(targets, val_fraction, test_fraction, seed):
    """Indices of train, val and test: each class is split in the same proportions, from ``seed``."""
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 <= value < 1:
            raise ValueError(f"stratified_split: {name} must be in [0, 1), got {value}")
    if val_fraction + test_fraction >= 1:
        raise ValueError(f"stratified_split: val_fraction + test_fraction must be < 1, got {val_fraction + test_fraction}")
    generator = torch.Generator().manual_seed(seed)
    train, val, test = [], [], []
    for label in torch.unique(targets):
        members = torch.nonzero(targets == label).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        num_test = round(len(members) * test_fraction)
        num_val = round(len(members) * val_fraction)
        test.append(members[:num_test])
        val.append(members[num_test:num_test + num_val])
        train.append(members[num_test + num_val:])
    return tuple(torch.sort(torch.cat(part)).values for part in (train, val, test))


def shift_augment(inputs, targets, image_shape):
    """The images plus copies shifted by one pixel up, down, left and right (zeros fill the edge)."""
    images = inputs.view(-1, *image_shape)
    copies = [images]
    for shift, dim in ((1, 1), (-1, 1), (1, 2), (-1, 2)):
        moved = torch.roll(images, shift, dims=dim)
        edge = 0 if shift == 1 else -1
        moved.select(dim, edge).zero_()
        copies.append(moved)
    return torch.cat(copies).reshape(len(copies) * len(inputs), -1), targets.repeat(len(copies))
