"""LightningDataModules for the digit classifier, with the descent switch (datamodules.descent)."""
from datamodules.digits import DigitsDataModule
from datamodules.mnist import MNISTDataModule

__all__ = ["DigitsDataModule", "MNISTDataModule"]
