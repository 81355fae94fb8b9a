function [ap07, ap12] = voc_devkit_ap(fname)
% Our transcription of the Pascal VOC devkit's per-class scoring (VOCevaldet.m of the VOC2007 devkit, and VOCap.m
% of the VOC2010+ devkits), written from their definition to serve as an independent oracle for
% yolo_attn.metrics under GNU Octave. Not the devkit itself. Run by tests/devkit_oracle/compare.py.
%
% Input file: a line "ng nd nimg", then ng rows "image xmin ymin xmax ymax difficult" (devkit 1-based inclusive
% corners, images numbered 1..nimg), then nd rows "image confidence xmin ymin xmax ymax" (one class).
fid = fopen(fname);
hdr = fscanf(fid, '%d', 3);
ng = hdr(1); nd = hdr(2); nimg = hdr(3);
G = fscanf(fid, '%f', [6 ng])';
D = fscanf(fid, '%f', [6 nd])';
fclose(fid);

% ground truth per image; npos counts the non-difficult boxes
npos = 0;
for i = 1:nimg
    if ng > 0
        m = G(:, 1) == i;
    else
        m = false(0, 1);
    end
    gt(i).BB = G(m, 2:5)';
    gt(i).diff = logical(G(m, 6))';
    gt(i).det = false(1, sum(m));
    npos = npos + sum(~gt(i).diff);
end
if nd > 0
    ids = D(:, 1); confidence = D(:, 2); BB = D(:, 3:6)';
else
    ids = zeros(0, 1); confidence = zeros(0, 1); BB = zeros(4, 0);
end

% sort detections by decreasing confidence (a stable sort)
[sc, si] = sort(-confidence);
ids = ids(si);
BB = BB(:, si);

% assign detections to ground truth objects
tp = zeros(nd, 1);
fp = zeros(nd, 1);
for d = 1:nd
    i = ids(d);
    bb = BB(:, d);
    ovmax = -inf;
    for j = 1:size(gt(i).BB, 2)
        bbgt = gt(i).BB(:, j);
        bi = [max(bb(1), bbgt(1)); max(bb(2), bbgt(2)); min(bb(3), bbgt(3)); min(bb(4), bbgt(4))];
        iw = bi(3) - bi(1) + 1;
        ih = bi(4) - bi(2) + 1;
        if iw > 0 & ih > 0
            ua = (bb(3) - bb(1) + 1) * (bb(4) - bb(2) + 1) + (bbgt(3) - bbgt(1) + 1) * (bbgt(4) - bbgt(2) + 1) - iw * ih;
            ov = iw * ih / ua;
            if ov > ovmax
                ovmax = ov;
                jmax = j;
            end
        end
    end
    % true positive / don't care (difficult: tp = fp = 0) / false positive
    if ovmax >= 0.5
        if ~gt(i).diff(jmax)
            if ~gt(i).det(jmax)
                tp(d) = 1;
                gt(i).det(jmax) = true;
            else
                fp(d) = 1;  % multiple detection
            end
        end
    else
        fp(d) = 1;
    end
end

% precision / recall
fp = cumsum(fp);
tp = cumsum(tp);
rec = tp / npos;
prec = tp ./ (fp + tp);

% VOC2007: 11-point interpolated AP
ap07 = 0;
for t = 0:0.1:1
    p = max(prec(rec >= t));
    if isempty(p)
        p = 0;
    end
    ap07 = ap07 + p / 11;
end

% VOC2010+: area under the precision envelope (VOCap)
mrec = [0; rec; 1];
mpre = [0; prec; 0];
for i = numel(mpre) - 1:-1:1
    mpre(i) = max(mpre(i), mpre(i + 1));
end
i = find(mrec(2:end) ~= mrec(1:end - 1)) + 1;
ap12 = sum((mrec(i) - mrec(i - 1)) .* mpre(i));
end
