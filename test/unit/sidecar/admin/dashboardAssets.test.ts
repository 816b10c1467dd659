import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DASHBOARD_ASSET_NAMES } from '../../../../sidecar/admin/dashboardAssets.js';

const FOLDER = fileURLToPath(new URL('../../../../sidecar/admin/dashboard/', import.meta.url));

describe('dashboard assets', () => {
  it('serves exactly the files of sidecar/admin/dashboard/: none left unserved, none named that is not there', () => {
    expect([...DASHBOARD_ASSET_NAMES].sort()).toEqual(readdirSync(FOLDER).sort());
  });
});
