// Test setup: the only place besides workers/ that picks the tfjs backend.
import { initBackend } from '../scripts/backend';

await initBackend();
