import * as fs from 'fs';
import * as path from 'path';
import { ValidationError } from '../lib/model/errors';
import { IMAGE_DIGESTS_FILE, parseImageDigests } from '../lib/model/images';

/**
 * The digests `npm run images` recorded under `root`, or an empty object when the images have not
 * been built (every image is then referenced by its version tag).
 */
export function readImageDigests(root: string): Record<string, string> {
  const file = path.join(root, IMAGE_DIGESTS_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw error;
  }
  let content: unknown;
  try {
    content = JSON.parse(text);
  } catch (error) {
    throw new ValidationError(IMAGE_DIGESTS_FILE, text.slice(0, 40), `JSON (${(error as Error).message})`);
  }
  return parseImageDigests(content);
}
