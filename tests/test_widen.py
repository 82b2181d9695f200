"""Net2Net widening of the compact network: same outputs, more channels, copies free to drift apart."""
import pytest
import torch

from xicam_gisaxs_cnn.models.architectures import AlexNet, CompactCNN
from xicam_gisaxs_cnn_trainer.widen import widen_compact


def _trained_looking(model: CompactCNN) -> CompactCNN:
    """Random batch-norm statistics and affine terms, as training leaves them, so that copying them is tested."""
    generator = torch.Generator().manual_seed(4)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                size = module.num_features
                module.running_mean.copy_(0.1 * torch.randn(size, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(size, generator=generator))
                module.weight.copy_(0.5 + torch.rand(size, generator=generator))
                module.bias.copy_(0.1 * torch.randn(size, generator=generator))
    return model


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_widening_keeps_logits_and_embeddings(mode):
    torch.manual_seed(0)
    narrow = _trained_looking(CompactCNN(width=8, embedding_size=16))
    wide = widen_compact(narrow, 12)
    narrow.train(mode == "train")
    wide.train(mode == "train")
    images = torch.rand(6, 3, 125, 125)
    torch.manual_seed(1)
    narrow_logits, narrow_embedding = narrow(images), narrow.embed(images)
    torch.manual_seed(1)
    wide_logits, wide_embedding = wide(images), wide.embed(images)
    assert narrow_embedding.abs().max() > 0.1  # the comparison is not between two zeros
    torch.testing.assert_close(wide_embedding, narrow_embedding, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(wide_logits, narrow_logits, atol=1e-5, rtol=1e-4)
    assert [module.out_channels for module in wide.modules() if isinstance(module, torch.nn.Conv2d)] == [12, 24, 48, 128]


def test_copied_channels_get_unequal_shares_so_training_can_separate_them():
    narrow = CompactCNN(width=8, embedding_size=16)
    wide = widen_compact(narrow, 12, generator=torch.Generator().manual_seed(2))
    stem, block = (module for module in wide.modules() if isinstance(module, torch.nn.Conv2d) and module.out_channels in (12, 24))
    copies = [(new, old) for new in range(8, 12) for old in range(8) if torch.equal(stem.weight[new], stem.weight[old])]
    assert len(copies) == 4  # every new stem channel is a copy of one old channel
    for new, old in copies:
        assert not torch.allclose(block.weight[:, new], block.weight[:, old])  # but the next layer reads them unequally
        original = dict(narrow.named_parameters())["backbone.2.0.weight"][:, old]
        sharers = [index for index in range(12) if torch.equal(stem.weight[index], stem.weight[old])]
        torch.testing.assert_close(block.weight[:16, sharers].sum(dim=1), original)  # its first 16 filters are the old ones


def test_widening_refuses_other_architectures_and_narrower_widths():
    with pytest.raises(ValueError, match="compact architecture only, not AlexNet"):
        widen_compact(AlexNet(), 32)
    with pytest.raises(ValueError, match="--widen 8 must exceed the model's width 8"):
        widen_compact(CompactCNN(width=8), 8)
