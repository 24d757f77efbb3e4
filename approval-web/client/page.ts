import { copyButtons } from './copy.ts';
import { localTimes } from './times.ts';

// Pages with no ceremony of their own (Passports): local times with UTC on hover, and copy buttons.
localTimes();
copyButtons();
