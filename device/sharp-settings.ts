/**
 * Process-wide settings of sharp (libvips) for a gate: no operation cache.
 * libvips keeps up to 50 MB of recent results by default, which helps a
 * server resizing the same images again and never helps a camera whose every
 * frame is new; on a Raspberry Pi that is a third of the memory budget.
 */
import sharp from 'sharp';

sharp.cache(false);

export default sharp;
