"""LightningDataModules for the classifier (digits, MNIST, your own table), with the descent switch (datamodules.descent)."""
from datamodules.digits import DigitsDataModule
from datamodules.mnist import MNISTDataModule
from datamodules.table import TableDataModule

__all__ = ["DigitsDataModule", "MNISTDataModule", "TableDataModule"]
