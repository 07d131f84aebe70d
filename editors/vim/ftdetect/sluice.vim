" Sluice model files (.slu): filetype sluice.
autocmd BufRead,BufNewFile *.slu setfiletype sluice
